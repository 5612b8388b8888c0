# Shared compile settings.
#
# utpm_portable: the rules for code that must also run on the MCU (tpm, crypto, storage, link):
#   no exceptions, no RTTI, warnings are errors. Heap use is forbidden by review and by the
#   firmware link (no malloc provided), not by a flag.
# utpm_hosted: our host-only code (daemon, tools, tests): warnings are errors.

add_library(utpm_warnings INTERFACE)
target_compile_options(utpm_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast>)

add_library(utpm_portable INTERFACE)
target_link_libraries(utpm_portable INTERFACE utpm_warnings)
target_compile_options(utpm_portable INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti -fno-threadsafe-statics>)

add_library(utpm_hosted INTERFACE)
target_link_libraries(utpm_hosted INTERFACE utpm_warnings)

if(UTPM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# utpm_add_unit_test(NAME SOURCES... LIBS ...): a GoogleTest executable registered with ctest.
find_package(GTest QUIET)
# SERIAL: the tests run alone (timing-sensitive tests of the daemon's cancel pump and pty
# client changes raced under a loaded -j2 run).
function(utpm_add_unit_test name)
  cmake_parse_arguments(T "SERIAL" "" "SOURCES;LIBS" ${ARGN})
  if(NOT UTPM_TESTS OR CMAKE_CROSSCOMPILING)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} utpm_hosted GTest::gtest GTest::gtest_main)
  include(GoogleTest)
  if(T_SERIAL)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES RUN_SERIAL TRUE)
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
