# What `cmake --install` puts on a machine, and the Debian package built from it (CPack DEB).
#
#   bin/utpmd, bin/utpm                       the daemon and the tool
#   LIBDIR/libtss2-tcti-utpm.so.0 (+ .so)     the TCTI module (src/host/tcti); with prefix /usr on
#                                             Debian LIBDIR is lib/x86_64-linux-gnu, a directory
#                                             the loader searches, so tpm2-tss's TCTI loader finds
#                                             "-T utpm:..." by name (libtss2-tcti-<name>.so.0)
#   lib/systemd/system/utpmd.service          the service (dist/systemd), state in /var/lib/utpm
#   lib/sysusers.d/utpm.conf                  its user
#   lib/udev/rules.d/70-utpm.rules            the board's tty (dist/udev)
#   share/man/man8/utpmd.8.gz, man1/utpm.1.gz the manual pages (dist/man)
# Everything is relative to the prefix, so a /usr/local install works too (systemd, sysusers and
# udev also read /usr/local/lib/...); a direct install (no DESTDIR, not CPack's staging) runs
# ldconfig, because /usr/local/lib is searched only through the loader cache. The unit's
# ExecStart= names the bindir of the configured prefix (`cmake --install --prefix` does not
# change it).
include(GNUInstallDirs)
set(UTPM_DIST ${PROJECT_SOURCE_DIR}/dist)

set(UTPM_INSTALL_FULL_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
configure_file(${UTPM_DIST}/systemd/utpmd.service.in ${PROJECT_BINARY_DIR}/dist/utpmd.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dist/utpmd.service DESTINATION lib/systemd/system)
install(FILES ${UTPM_DIST}/systemd/utpm.sysusers DESTINATION lib/sysusers.d RENAME utpm.conf)
install(FILES ${UTPM_DIST}/udev/70-utpm.rules DESTINATION lib/udev/rules.d)

# Manual pages, compressed as Debian ships them (gzip -n: reproducible).
find_program(UTPM_GZIP gzip REQUIRED)
set(_utpm_man_out)
foreach(page utpmd.8 utpm.1)
  string(REGEX REPLACE ".*\\." "" section ${page})
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/dist/${page}.gz
    COMMAND ${UTPM_GZIP} -9nc ${UTPM_DIST}/man/${page} > ${PROJECT_BINARY_DIR}/dist/${page}.gz
    DEPENDS ${UTPM_DIST}/man/${page} VERBATIM)
  list(APPEND _utpm_man_out ${PROJECT_BINARY_DIR}/dist/${page}.gz)
  install(FILES ${PROJECT_BINARY_DIR}/dist/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(utpm_man ALL DEPENDS ${_utpm_man_out})

# A direct install into the running system refreshes the loader cache (not under DESTDIR or in
# CPack's staging directory).
install(CODE "
  if(\"\$ENV{DESTDIR}\" STREQUAL \"\" AND NOT CMAKE_INSTALL_PREFIX MATCHES \"/_CPack_Packages/\")
    find_program(_utpm_ldconfig ldconfig PATHS /sbin /usr/sbin)
    if(_utpm_ldconfig)
      message(STATUS \"Running ldconfig (the TCTI module's loader cache)\")
      execute_process(COMMAND \${_utpm_ldconfig} RESULT_VARIABLE _rc ERROR_QUIET)
      if(NOT _rc EQUAL 0)
        message(STATUS \"ldconfig failed (not root?): run it so that -T utpm: finds the TCTI module\")
      endif()
    endif()
  endif()")

# ---- the Debian package: cmake --preset host-package && cmake --build build/host-package &&
#      (cd build/host-package && cpack)  ->  build/host-package/utpm_<version>-1_<arch>.deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME utpm)
set(CPACK_PACKAGE_VENDOR "utpm")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "utpm developers <utpm@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "open TPM 2.0: daemon, tpm2-tss TCTI module and tool")
set(CPACK_PACKAGE_DESCRIPTION
  "utpm is a TPM 2.0 written from scratch. This package holds utpmd, a software TPM that \
tpm2-tools, tpm2-tss and tpm2-pytss use over the Microsoft simulator protocol, a virtual serial \
port, a unix socket or the kernel's vtpm proxy (/dev/tpmN, /dev/tpmrmN); a systemd unit that \
serves it on loopback; libtss2-tcti-utpm.so.0, the TCTI module for a utpm board on a serial line \
(-T utpm:/dev/ttyACM0) with its udev rule; and the utpm tool, which decodes and sends TPM \
commands.")
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/utpm")
# Library dependencies (libc6, libstdc++6, libssl3, libtss2-*) from dpkg-shlibdeps; the
# postinst creates the user with systemd-sysusers, or adduser where systemd is absent.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "tpm2-tools")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3-tpm2-pytss")
set(CPACK_DEBIAN_PACKAGE_ENHANCES "libtss2-tctildr0")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${UTPM_DIST}/debian/postinst ${UTPM_DIST}/debian/prerm ${UTPM_DIST}/debian/postrm
  ${UTPM_DIST}/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
include(CPack)

# Everything the install rules need and nothing else (the package test builds only this).
add_custom_target(utpm_dist)
add_dependencies(utpm_dist utpm_man utpm_tcti_module)
foreach(t utpmd utpm)
  if(TARGET ${t})
    add_dependencies(utpm_dist ${t})
  endif()
endforeach()
