#include "itkMicrostructureText.h"

#include <gtest/gtest.h>

#include <string>

TEST(MicrostructureText, EscapeXmlReplacesTheFiveMarkupCharacters)
{
  EXPECT_EQ(itk::EscapeXml(""), "");
  EXPECT_EQ(itk::EscapeXml("plain text, 3 degC/s"), "plain text, 3 degC/s");
  EXPECT_EQ(itk::EscapeXml("a < b & c > d"), "a &lt; b &amp; c &gt; d");
  EXPECT_EQ(itk::EscapeXml("say \"it's\""), "say &quot;it&#39;s&quot;");
  EXPECT_EQ(itk::EscapeXml("&amp;"), "&amp;amp;") << "escaped again, not left as an entity";
  EXPECT_EQ(itk::EscapeXml("\xc2\xb0"
                           "C\n\t"),
            "\xc2\xb0"
            "C\n\t")
    << "other bytes are kept";
}

TEST(MicrostructureText, ToJsonStringEscapesAndQuotes)
{
  EXPECT_EQ(itk::ToJsonString(""), "\"\"");
  EXPECT_EQ(itk::ToJsonString("cooling_rate_C_per_s"), "\"cooling_rate_C_per_s\"");
  EXPECT_EQ(itk::ToJsonString("a \"q\" \\ b"), "\"a \\\"q\\\" \\\\ b\"");
  EXPECT_EQ(itk::ToJsonString("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(itk::ToJsonString(std::string("\x01\x1f\0", 3)), "\"\\u0001\\u001f\\u0000\"");
  EXPECT_EQ(itk::ToJsonString("/ <>&'"), "\"/ <>&'\"") << "nothing else is escaped";
  EXPECT_EQ(itk::ToJsonString("3 \xc2\xb0"
                              "C/s"),
            "\"3 \xc2\xb0"
            "C/s\"")
    << "UTF-8 is kept";
  EXPECT_EQ(itk::ToJsonString("a\xff"
                              "b"),
            "\"a\xef\xbf\xbd"
            "b\"")
    << "invalid UTF-8 becomes U+FFFD";
}
