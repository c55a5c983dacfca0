# The Debian package (CPack, generator DEB): `cmake --build BUILD --target package`.
# Configure the build with -DCMAKE_INSTALL_PREFIX=/usr: the binary has its data directory
# compiled in, so the package installs exactly where the build was configured to, and a
# .deb belongs in /usr (the packaging step refuses any other prefix). docs/install.md.
#
# The package holds everything `cmake --install` installs plus /etc/trunkwatch/trunkwatch.toml
# (the example configuration) and /etc/logrotate.d/trunkwatch (udev/trunkwatch.logrotate) as
# dpkg conffiles: kept on remove, removed on purge, and an
# upgrade asks before replacing a copy the administrator changed. Plain `cmake --install`
# leaves /etc alone (the example goes to share/trunkwatch/examples, rules/CMakeLists.txt, the
# logrotate file next to it).
# Maintainer scripts (cmake/debian/): postinst creates the user and directories and starts
# nothing; prerm stops the service on removal; postrm keeps call records on purge.

# The conffile: its own component, left out of a plain install (EXCLUDE_FROM_ALL), taken
# into the package below.
install(FILES ${PROJECT_SOURCE_DIR}/examples/trunkwatch.toml
        DESTINATION /etc/trunkwatch COMPONENT conffiles EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/udev/trunkwatch.logrotate DESTINATION /etc/logrotate.d
        RENAME trunkwatch COMPONENT conffiles EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/udev/trunkwatch.logrotate
        DESTINATION ${CMAKE_INSTALL_DATADIR}/trunkwatch/examples)
install(FILES ${PROJECT_SOURCE_DIR}/cmake/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME trunkwatch)
set(CPACK_PACKAGE_VENDOR "trunkwatch developers")
set(CPACK_PACKAGE_CONTACT "trunkwatch developers <dev@trunkwatch.invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
# The long description, wrapped for `apt show` (CPackDeb indents each line).
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "trunkwatch taps the ISDN PRI trunks of a PBX through DAHDI telephony cards,"
  "decodes Q.921/Q.931 passively, follows and records every call, and raises"
  "alerts on toll fraud (outsiders dialing in to DISA or voicemail and out again"
  "to international or premium numbers) while it happens. It runs as the systemd"
  "service trunkwatch.service, started by hand or when a DAHDI span appears.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# One package made of every install component, the conffile included.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
get_cmake_property(CPACK_COMPONENTS_ALL COMPONENTS)

set(CPACK_DEBIAN_PACKAGE_NAME trunkwatch)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # trunkwatch_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "trunkwatch developers <dev@trunkwatch.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION comm)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Library dependencies from dpkg-shlibdeps (package dpkg-dev). The maintainer scripts make the
# user with systemd-sysusers, or adduser where there is no systemd; the udev rule gives the
# service its DAHDI device access with setfacl (package acl).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser | systemd, acl")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dahdi, dahdi-dkms | dahdi-linux")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "default-mta | mail-transport-agent")

set(tw_debian_control ${PROJECT_BINARY_DIR}/debian-control)
file(MAKE_DIRECTORY ${tw_debian_control})
file(COPY ${PROJECT_SOURCE_DIR}/cmake/debian/postinst ${PROJECT_SOURCE_DIR}/cmake/debian/prerm
          ${PROJECT_SOURCE_DIR}/cmake/debian/postrm DESTINATION ${tw_debian_control})
file(WRITE ${tw_debian_control}/conffiles
     "/etc/trunkwatch/trunkwatch.toml\n/etc/logrotate.d/trunkwatch\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${tw_debian_control}/postinst ${tw_debian_control}/prerm ${tw_debian_control}/postrm
    ${tw_debian_control}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)  # scripts 0755, conffiles 0644

# Checked when cpack runs, not at configure time: development builds keep /usr/local.
file(WRITE ${tw_debian_control}/check-prefix.cmake [=[
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "trunkwatch: a .deb installs into /usr, this build into "
          "${CPACK_PACKAGING_INSTALL_PREFIX}: configure with -DCMAKE_INSTALL_PREFIX=/usr")
endif()
]=])
set(CPACK_PROJECT_CONFIG_FILE ${tw_debian_control}/check-prefix.cmake)

set(CPACK_SOURCE_GENERATOR TXZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/\\\\.cache/")

include(CPack)
