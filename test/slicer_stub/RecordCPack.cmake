# Slicer's extension CPack step, recorded: it must come after GenerateConfig.
file(APPEND ${CMAKE_BINARY_DIR}/slicer_extension_record.txt "cpack=included\n")
