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

# Sets <out> to TRUE if clang++ can build libFuzzer targets (sets UTPM_CLANGXX too); prints why
# not, naming <what>, otherwise. The fuzz targets are built with clang in their own compile:
# libFuzzer's runtime cannot be mixed with the GCC build.
function(utpm_libfuzzer_available out what)
  find_program(UTPM_CLANGXX NAMES clang++ clang++-14)
  if(NOT UTPM_CLANGXX)
    message(STATUS "clang++ not found: ${what} skipped")
    set(${out} FALSE PARENT_SCOPE)
    return()
  endif()
  set(_probe ${CMAKE_CURRENT_BINARY_DIR}/probe.cc)
  file(WRITE ${_probe}
    "#include <cstdint>\n#include <cstddef>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
  execute_process(COMMAND ${UTPM_CLANGXX} -fsanitize=fuzzer ${_probe} -o ${CMAKE_CURRENT_BINARY_DIR}/probe
                  RESULT_VARIABLE _fuzz_ok OUTPUT_QUIET ERROR_QUIET)
  if(NOT _fuzz_ok EQUAL 0)
    message(STATUS "clang++ cannot link libFuzzer (libclang-rt-14-dev missing?): ${what} skipped")
    set(${out} FALSE PARENT_SCOPE)
    return()
  endif()
  set(${out} TRUE PARENT_SCOPE)
endfunction()
