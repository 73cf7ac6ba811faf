/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureText_h
#define itkMicrostructureText_h

#include "StochasticMicrostructureExport.h"

#include <string>

namespace itk
{
/** `text` with & < > " ' replaced by &amp; &lt; &gt; &quot; &#39; and every other byte kept: safe
 * as the text of an XML or HTML element and as an attribute value in double or single quotes (the
 * Slicer --xml description of the CLIs, the study's HTML report).
 * \ingroup StochasticMicrostructure */
StochasticMicrostructure_EXPORT std::string
                                EscapeXml(const std::string & text);

/** `text` as a JSON string, quotes included, written by nlohmann-json: " and \ backslash-escaped,
 * control characters (below 0x20) as \b \f \n \r \t or \u00xx, UTF-8 kept as it is, and any byte
 * that is not part of valid UTF-8 replaced by U+FFFD, so that the result is always valid JSON.
 * \ingroup StochasticMicrostructure */
StochasticMicrostructure_EXPORT std::string
                                ToJsonString(const std::string & text);
} // end namespace itk

#endif // itkMicrostructureText_h
