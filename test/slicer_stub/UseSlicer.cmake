# Slicer's use file sets up its ITK, VTK and Qt; the stand-in leaves the system's.
set(Slicer_USE_FILE_INCLUDED TRUE)
