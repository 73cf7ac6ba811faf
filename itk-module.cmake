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
    ITKImageFilterBase
    ITKImageFunction
    ITKConnectedComponents
  # The image formats the dataset tools and the CLIs read and write (registered by the library where
  # no UseITK registration manager is, src/itkMicrostructureIO.cxx).
  PRIVATE_DEPENDS
    ITKIOPNG
    ITKIONRRD
    ITKIOMeta
    ITKIONIFTI
    ITKIOTIFF
    ITKIOJPEG
    ITKIOBMP
  TEST_DEPENDS
    ITKTestKernel
    ITKIOPNG
    ITKIONRRD
  DESCRIPTION
    "Learns how a material's microstructure depends on its processing (VQ-VAE + conditional gated PixelCNN, Noguchi & Inoue 2021) and generates statistically equivalent microstructures, with the measurement filters (Otsu, volume fraction, mean free path, S2, chord lengths)."
  EXCLUDE_FROM_DEFAULT
  ENABLE_SHARED
)
