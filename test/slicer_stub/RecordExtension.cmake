# Records the extension's metadata as Slicer's SlicerExtensionGenerateConfig step would read it.
set(record "")
foreach(key HOMEPAGE CATEGORY CONTRIBUTORS DESCRIPTION ICONURL SCREENSHOTURLS DEPENDS)
  string(APPEND record "EXTENSION_${key}=${EXTENSION_${key}}\n")
endforeach()
string(APPEND record "Slicer_USE_FILE_INCLUDED=${Slicer_USE_FILE_INCLUDED}\n")
file(WRITE ${CMAKE_BINARY_DIR}/slicer_extension_record.txt "${record}")
