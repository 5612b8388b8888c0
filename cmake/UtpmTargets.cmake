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

# Compiles <sources> with clang for libFuzzer, one object per source under <dir> (incremental,
# parallel, header changes tracked through depfiles), and sets <out> to the object list.
function(utpm_fuzz_objects out dir flags)
  set(_objs)
  foreach(_src ${ARGN})
    file(RELATIVE_PATH _rel ${PROJECT_SOURCE_DIR} ${_src})
    string(REGEX REPLACE "[/.]" "_" _stem "${_rel}")
    set(_obj ${dir}/${_stem}.o)
    add_custom_command(OUTPUT ${_obj}
      COMMAND ${UTPM_CLANGXX} -std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined ${flags}
              -I${PROJECT_SOURCE_DIR}/src -MD -MF ${_obj}.d -c ${_src} -o ${_obj}
      DEPENDS ${_src}
      DEPFILE ${_obj}.d
      COMMENT "clang/libFuzzer: ${_rel}"
      VERBATIM)
    list(APPEND _objs ${_obj})
  endforeach()
  set(${out} ${_objs} PARENT_SCOPE)
endfunction()

# The engine (src/tpm) and the OpenSSL crypto backend, compiled with clang once for every fuzz
# target that needs them (target utpm_fuzz_engine_objs; <out> = the objects). Before, each
# engine fuzzer compiled the whole engine in one serial clang call.
set(UTPM_FUZZ_ENGINE_FLAGS -fno-sanitize-recover=all -fno-sanitize=vptr -DUTPM_CRYPTO_NS=openssl_backend)
function(utpm_fuzz_engine_objects out with_engine)
  set(_prop UTPM_FUZZ_OBJS_${with_engine})
  get_property(_done GLOBAL PROPERTY ${_prop} SET)
  if(NOT _done)
    file(GLOB _crypto ${PROJECT_SOURCE_DIR}/src/crypto/common/*.cc ${PROJECT_SOURCE_DIR}/src/crypto/openssl/*.cc)
    set(_srcs ${_crypto})
    if(with_engine)
      file(GLOB _engine ${PROJECT_SOURCE_DIR}/src/tpm/*.cc ${PROJECT_SOURCE_DIR}/src/tpm/core/*.cc
           ${PROJECT_SOURCE_DIR}/src/tpm/subsystem/*.cc ${PROJECT_SOURCE_DIR}/src/tpm/commands/*.cc)
      list(APPEND _srcs ${_engine})
    endif()
    list(FILTER _srcs EXCLUDE REGEX "_test\\.cc$")
    utpm_fuzz_objects(_objs ${CMAKE_BINARY_DIR}/fuzz-objs/shared${with_engine} "${UTPM_FUZZ_ENGINE_FLAGS}" ${_srcs})
    add_custom_target(utpm_fuzz_objs_${with_engine} DEPENDS ${_objs})
    set_property(GLOBAL PROPERTY ${_prop} "${_objs}")
  endif()
  get_property(_objs GLOBAL PROPERTY ${_prop})
  set(${out} ${_objs} PARENT_SCOPE)
endfunction()

# One libFuzzer target and its bounded ctest run (the fuzz folders' CMakeLists say what each
# checks). Built with clang: libFuzzer's runtime cannot be mixed with the GCC build. Does nothing
# (with a message) where clang cannot link libFuzzer.
#   utpm_add_libfuzzer(<binary> SOURCES ... [TEST name] [TIME seconds] [MAX_LEN n] [RSS_MB n]
#                      [CORPUS dir] [ENGINE] [LIBS ...] [DEPENDS ...])
# ENGINE adds the engine (src/tpm) and the OpenSSL crypto backend (shared clang objects); so does
# -lcrypto in LIBS, for the backend alone. CORPUS is copied to the build tree at build time
# (libFuzzer adds what it finds there, never to the source tree).
function(utpm_add_libfuzzer bin)
  cmake_parse_arguments(F "ENGINE" "TEST;TIME;MAX_LEN;RSS_MB;CORPUS" "SOURCES;LIBS;DEPENDS" ${ARGN})
  utpm_libfuzzer_available(_ok "${bin}")
  if(NOT _ok)
    return()
  endif()
  set(_flags -fno-sanitize-recover=all)
  set(_libs ${F_LIBS})
  set(_shared)
  set(_shared_target)
  if(F_ENGINE OR "-lcrypto" IN_LIST _libs)
    set(_with_engine 0)
    if(F_ENGINE)
      set(_with_engine 1)
    endif()
    utpm_fuzz_engine_objects(_shared ${_with_engine})
    set(_shared_target utpm_fuzz_objs_${_with_engine})
    set(_flags ${UTPM_FUZZ_ENGINE_FLAGS})
    list(REMOVE_ITEM _libs -lcrypto)
    list(APPEND _libs -lcrypto)
  else()
    list(APPEND _flags -fno-exceptions -fno-rtti)
  endif()
  utpm_fuzz_objects(_own ${CMAKE_CURRENT_BINARY_DIR}/${bin}_objs "${_flags}" ${F_SOURCES})
  set(_out ${CMAKE_CURRENT_BINARY_DIR}/${bin})
  add_custom_command(OUTPUT ${_out}
    COMMAND ${UTPM_CLANGXX} -fsanitize=fuzzer,address,undefined ${_own} ${_shared} ${_libs} -o ${_out}
    DEPENDS ${_own} ${_shared} ${F_DEPENDS}
    COMMENT "Linking ${bin} (clang/libFuzzer)"
    VERBATIM)
  set(_corpus_args)
  if(F_CORPUS)
    add_custom_target(${bin}_build ALL DEPENDS ${_out}
      COMMAND ${CMAKE_COMMAND} -E copy_directory ${F_CORPUS} ${CMAKE_CURRENT_BINARY_DIR}/${bin}_corpus)
    set(_corpus_args ${CMAKE_CURRENT_BINARY_DIR}/${bin}_corpus)
  else()
    add_custom_target(${bin}_build ALL DEPENDS ${_out})
  endif()
  if(_shared_target)
    add_dependencies(${bin}_build ${_shared_target})
  endif()
  if(NOT F_TEST)
    set(F_TEST ${bin})
  endif()
  if(NOT F_TIME)
    set(F_TIME 10)
  endif()
  if(NOT F_RSS_MB)
    set(F_RSS_MB 1024)
  endif()
  set(_max_len)
  if(F_MAX_LEN)
    set(_max_len -max_len=${F_MAX_LEN})
  endif()
  add_test(NAME ${F_TEST}
    COMMAND ${_out} -max_total_time=${F_TIME} -seed=1 -rss_limit_mb=${F_RSS_MB} ${_max_len}
            -print_final_stats=1 ${_corpus_args})
  set_tests_properties(${F_TEST} PROPERTIES TIMEOUT 180 LABELS fuzz)
endfunction()
