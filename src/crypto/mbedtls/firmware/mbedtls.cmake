# Firmware build of mbedTLS: Debian's mbedtls source (scripts/fetch-mbedtls unpacks it into
# third_party/mbedtls, which is never committed) compiled with our configuration
# (utpm_mbedtls_config.h). Provides the static library target utpm_mbedcrypto.

# On the host the same library is built (when the source is present) so that the exact
# firmware configuration runs the unit tests too.

set(UTPM_MBEDTLS_SOURCE_DIR ${PROJECT_SOURCE_DIR}/third_party/mbedtls CACHE PATH
    "mbedTLS 2.28 source tree (scripts/fetch-mbedtls)")
if(NOT EXISTS ${UTPM_MBEDTLS_SOURCE_DIR}/library/bignum.c)
  if(CMAKE_CROSSCOMPILING)
    message(FATAL_ERROR "mbedTLS source not found in ${UTPM_MBEDTLS_SOURCE_DIR}: run scripts/fetch-mbedtls")
  endif()
  return()
endif()

# Only the modules the configuration enables; the rest would compile to nothing anyway.
set(_utpm_mbedtls_modules
  aes asn1parse asn1write bignum cipher cipher_wrap constant_time ecdsa ecp ecp_curves gcm
  memory_buffer_alloc oid platform platform_util rsa rsa_internal sha1 sha256 sha512)
list(TRANSFORM _utpm_mbedtls_modules PREPEND ${UTPM_MBEDTLS_SOURCE_DIR}/library/)
list(TRANSFORM _utpm_mbedtls_modules APPEND .c)

add_library(utpm_mbedcrypto STATIC ${_utpm_mbedtls_modules})
target_include_directories(utpm_mbedcrypto SYSTEM PUBLIC
  ${UTPM_MBEDTLS_SOURCE_DIR}/include ${CMAKE_CURRENT_LIST_DIR})
target_compile_definitions(utpm_mbedcrypto PUBLIC
  MBEDTLS_CONFIG_FILE="utpm_mbedtls_config.h" UTPM_MBEDTLS_STATIC_POOL=1)
# Overrides of the config's tunables (MBEDTLS_ECP_WINDOW_SIZE=4;...), for bench/mcu_options.sh.
set(UTPM_FW_MBEDTLS_DEFINES "" CACHE STRING "mbedTLS tuning overrides for firmware variants (bench)")
if(UTPM_FW_MBEDTLS_DEFINES)
  target_compile_definitions(utpm_mbedcrypto PUBLIC ${UTPM_FW_MBEDTLS_DEFINES})
endif()
# Size over speed, and one section per function so the firmware link drops what is unused.
# Third-party code: its warnings are not ours to fix.
target_compile_options(utpm_mbedcrypto PRIVATE -Os -ffunction-sections -fdata-sections -w)
# The modules whose inner loops decide ECC/RSA speed, compiled for speed instead (their flash
# cost and gain: bench/mcu_options.sh).
set(UTPM_FW_MBEDTLS_FAST_MODULES "bignum;ecp;ecp_curves" CACHE STRING "mbedTLS modules compiled with -O2 instead of -Os")
foreach(_m ${UTPM_FW_MBEDTLS_FAST_MODULES})
  set_source_files_properties(${UTPM_MBEDTLS_SOURCE_DIR}/library/${_m}.c PROPERTIES COMPILE_OPTIONS -O2)
endforeach()
if(NOT CMAKE_CROSSCOMPILING)
  # Host check of the firmware config: count the static pool's peak use for the report.
  # (MEMORY_DEBUG's reporting code wants stdio, which the firmware config leaves out.)
  target_compile_definitions(utpm_mbedcrypto PUBLIC MBEDTLS_MEMORY_DEBUG)
  target_compile_options(utpm_mbedcrypto PRIVATE -include stdio.h)
endif()
