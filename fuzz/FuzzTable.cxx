/*=========================================================================
 * libFuzzer target: the CSV table reader, itk::MicrostructureTable::Parse
 * (src/itkMicrostructureTable.cxx; Read() is Parse() of a regular file's
 * bytes): RFC 4180 quoting, BOM, blank lines, header checks (empty or
 * duplicate names), ragged rows; then the cell accessors.
 *
 * Beyond "no crash", it checks: bad input fails only with
 * itk::ExceptionObject; GetNumber on every cell either gives a number or
 * throws that way; and ToCSV() of a parsed table parses back to the same
 * columns and cells (the writer and the reader agree).
 *=========================================================================*/
#include "itkMicrostructureTable.h"
#include "itkMacro.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace
{
[[noreturn]] void
Broken(const char * what)
{
  std::fprintf(stderr, "FuzzTable: %s\n", what);
  std::abort();
}
} // namespace

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t * data, size_t size)
{
  const std::string        text(reinterpret_cast<const char *>(data), size);
  itk::MicrostructureTable t;
  try
  {
    t = itk::MicrostructureTable::Parse(text, "<fuzz>");
  }
  catch (const itk::ExceptionObject &)
  {
    return 0; // a clear error naming the table
  }
  if (t.GetNumberOfColumns() == 0)
    Broken("a table parsed without columns");
  for (std::size_t r = 0; r < t.GetNumberOfRows(); ++r)
    for (const auto & column : t.GetColumnNames())
    {
      try
      {
        (void)t.GetNumber(r, column);
      }
      catch (const itk::ExceptionObject &)
      {}
    }

  itk::MicrostructureTable again;
  try
  {
    again = itk::MicrostructureTable::Parse(t.ToCSV(), "<fuzz, written again>");
  }
  catch (const itk::ExceptionObject & e)
  {
    std::fprintf(stderr, "%s\n", e.GetDescription());
    Broken("a table written by ToCSV does not parse");
  }
  if (again.GetColumnNames() != t.GetColumnNames() || again.GetNumberOfRows() != t.GetNumberOfRows())
    Broken("the columns or the number of rows changed in a write-read round trip");
  for (std::size_t r = 0; r < t.GetNumberOfRows(); ++r)
    for (std::size_t c = 0; c < t.GetNumberOfColumns(); ++c)
      if (again.Get(r, c) != t.Get(r, c))
        Broken("a cell changed in a write-read round trip");
  return 0;
}
