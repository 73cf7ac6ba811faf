/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureText.h"

#include <nlohmann/json.hpp>

namespace itk
{
std::string
EscapeXml(const std::string & text)
{
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (const char ch : text)
  {
    switch (ch)
    {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string
ToJsonString(const std::string & text)
{
  // ensure_ascii false: UTF-8 stays as it is; replace: invalid UTF-8 becomes U+FFFD instead of an exception.
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
} // end namespace itk
