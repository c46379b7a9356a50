# Installing the engine as a CMake package, so that a host CTI process can
# find_package(ccrec) and link ccrec::engine (docs/embedding.md).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CCREC_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/ccrec")

# Headers keep their folder names under include/ccrec, so the library's own
# includes ("actors/config.hpp") and a host's (<ccrec/actors/engine.hpp>)
# both resolve.
foreach(dir common messages actors crypto storage media)
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/${dir}/"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/ccrec/${dir}"
          FILES_MATCHING PATTERN "*.hpp")
endforeach()

install(TARGETS ccrec_common ccrec_messages ccrec_crypto ccrec_storage ccrec_media ccrec_engine
        EXPORT ccrecTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(EXPORT ccrecTargets NAMESPACE ccrec:: DESTINATION "${CCREC_CMAKE_DIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/ccrecConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/ccrecConfig.cmake" INSTALL_DESTINATION "${CCREC_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/ccrecConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/ccrecConfig.cmake"
              "${PROJECT_BINARY_DIR}/ccrecConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/FindSOCI.cmake"
        DESTINATION "${CCREC_CMAKE_DIR}")

install(TARGETS ccrec RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(TARGETS ccrec-pbxsim RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
