# A stand-in for a Slicer build's SlicerConfig.cmake, for test/cli/slicer_extension.sh: the variables
# the extension's CMake reads, with the values Slicer 5.x gives them (CMake/SlicerDirectories.cmake
# and SlicerConfig.cmake.in in Slicer's sources), and two scripts that record what the extension
# hands to Slicer's GenerateConfig and CPack steps instead of running them. No Slicer here.
set(Slicer_FOUND TRUE)
set(Slicer_USE_FILE ${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake)
set(Slicer_LIB_DIR lib/Slicer-5.6)
set(Slicer_CLIMODULES_BIN_DIR ${Slicer_LIB_DIR}/cli-modules)
set(Slicer_INSTALL_CLIMODULES_BIN_DIR ./${Slicer_CLIMODULES_BIN_DIR})
set(Slicer_THIRDPARTY_LIB_DIR ${Slicer_LIB_DIR})
set(Slicer_INSTALL_THIRDPARTY_LIB_DIR ./${Slicer_THIRDPARTY_LIB_DIR})
set(Slicer_EXTENSION_GENERATE_CONFIG ${CMAKE_CURRENT_LIST_DIR}/RecordExtension.cmake)
set(Slicer_EXTENSION_CPACK ${CMAKE_CURRENT_LIST_DIR}/RecordCPack.cmake)
