# Runs a command-line module with --xml and writes its description twice, each file written beside
# and then renamed (a failed step leaves no half-written file):
#   XML:    the description itself, <name>.xml beside the launcher (3D Slicer reads that file instead
#           of running the executable when it finds one);
#   HEADER: the same text as the C string kModuleDescriptionXml, compiled into the launcher.
# Usage: cmake -DMODULE=<executable> -DXML=<file.xml> -DHEADER=<file.h> -P EmbedXml.cmake
execute_process(COMMAND ${MODULE} --xml OUTPUT_VARIABLE xml RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT xml MATCHES "^<\\?xml")
  message(FATAL_ERROR "${MODULE} --xml failed (exit ${rc}): ${err}")
endif()
if(xml MATCHES "\\)SMXML\"")
  message(FATAL_ERROR "${MODULE} --xml contains the raw-string delimiter )SMXML\"")
endif()
file(WRITE ${XML}.tmp "${xml}")
file(RENAME ${XML}.tmp ${XML})
file(WRITE ${HEADER}.tmp "// Written by apps/launcher/EmbedXml.cmake from ${MODULE} --xml; do not edit.\n"
                         "static const char kModuleDescriptionXml[] = R\"SMXML(${xml})SMXML\";\n")
file(RENAME ${HEADER}.tmp ${HEADER})
