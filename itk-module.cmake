get_filename_component(MY_CURRENT_DIR "${CMAKE_CURRENT_LIST_FILE}" PATH)
file(READ "${MY_CURRENT_DIR}/README.md" DOCUMENTATION)

itk_module(StochasticMicrostructure
  DEPENDS
    ITKCommon
    ITKStatistics
    ITKImageGrid
    ITKImageIntensity
    ITKThresholding
    ITKFFT
    ITKSmoothing
    ITKIOImageBase
  TEST_DEPENDS
    ITKTestKernel
    ITKIOPNG
    ITKIONRRD
  DESCRIPTION
    "Learns how a material's microstructure depends on its processing (VQ-VAE + conditional gated PixelCNN, Noguchi & Inoue 2021) and generates statistically equivalent microstructures; includes the measurement filters (Otsu, volume fraction, mean free path, S2, chord lengths)."
  EXCLUDE_FROM_DEFAULT
  ENABLE_SHARED
)
