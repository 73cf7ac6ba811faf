/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureTable.h"
#include "itkMicrostructureIO.h"
#include "itkMacro.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>

namespace itk
{
MicrostructureTable::MicrostructureTable(std::vector<std::string> columnNames)
  : m_Columns(std::move(columnNames))
{}

MicrostructureTable
MicrostructureTable::Read(const std::string & path)
{
  // A regular file only (a folder, device or FIFO is refused, not read forever), of at most 1 GiB.
  return Parse(ReadRegularFile(path, std::uintmax_t{ 1 } << 30, "table"), path, DelimiterFor(path));
}

char
MicrostructureTable::DelimiterFor(const std::string & path)
{
  std::string ext = path.size() >= 4 ? path.substr(path.size() - 4) : "";
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".tsv" ? '\t' : ',';
}

MicrostructureTable
MicrostructureTable::Parse(const std::string & input, const std::string & sourceName, char delimiter)
{
  // A UTF-8 byte order mark (spreadsheets write one) is not part of the first column's name.
  const std::string bom = "\xEF\xBB\xBF";
  const std::string text = input.compare(0, bom.size(), bom) == 0 ? input.substr(bom.size()) : input;
  std::vector<std::vector<std::string>> records;
  std::vector<std::string>              record;
  std::string                           field;
  bool                                  inQuotes = false;
  bool                                  fieldWasQuoted = false;
  std::size_t                           line = 1;
  std::size_t                           quoteLine = 0;
  auto                                  endRecord = [&]() {
    record.push_back(field);
    field.clear();
    fieldWasQuoted = false;
    // A blank line (one empty unquoted field) is skipped.
    if (!(record.size() == 1 && record[0].empty()))
    {
      records.push_back(record);
    }
    record.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i)
  {
    const char c = text[i];
    if (inQuotes)
    {
      if (c == '"')
      {
        if (i + 1 < text.size() && text[i + 1] == '"')
        {
          field += '"';
          ++i;
        }
        else
        {
          inQuotes = false;
        }
      }
      else
      {
        if (c == '\n')
        {
          ++line;
        }
        field += c;
      }
      continue;
    }
    if (c == delimiter)
    {
      record.push_back(field);
      field.clear();
      fieldWasQuoted = false;
      continue;
    }
    switch (c)
    {
      case '"':
        if (!field.empty() || fieldWasQuoted)
        {
          itkGenericExceptionMacro(<< "Malformed CSV '" << sourceName << "' line " << line
                                   << ": a quote inside an unquoted field. Quote the whole field and double the "
                                      "inner quotes.");
        }
        inQuotes = true;
        fieldWasQuoted = true;
        quoteLine = line;
        break;
      case '\r':
        break;
      case '\n':
        endRecord();
        ++line;
        break;
      default:
        field += c;
    }
  }
  if (inQuotes)
  {
    itkGenericExceptionMacro(<< "Malformed CSV '" << sourceName << "': the quote opened on line " << quoteLine
                             << " is never closed.");
  }
  if (!field.empty() || !record.empty())
  {
    endRecord();
  }
  if (records.empty())
  {
    itkGenericExceptionMacro(<< "The table '" << sourceName
                             << "' is empty: a header row naming the columns is needed.");
  }
  MicrostructureTable table(records.front());
  for (std::size_t c = 0; c < table.m_Columns.size(); ++c)
  {
    if (table.m_Columns[c].empty())
    {
      itkGenericExceptionMacro(<< "Malformed CSV '" << sourceName << "': column " << c + 1
                               << " of the header has no name.");
    }
    for (std::size_t d = 0; d < c; ++d)
    {
      if (table.m_Columns[d] == table.m_Columns[c])
      {
        itkGenericExceptionMacro(<< "Malformed CSV '" << sourceName << "': the header names column '"
                                 << table.m_Columns[c] << "' twice (columns " << d + 1 << " and " << c + 1
                                 << "). Rename or remove one of them.");
      }
    }
  }
  for (std::size_t r = 1; r < records.size(); ++r)
  {
    if (records[r].size() != table.m_Columns.size())
    {
      itkGenericExceptionMacro(<< "Malformed CSV '" << sourceName << "': data row " << r << " has " << records[r].size()
                               << " fields but the header has " << table.m_Columns.size() << ".");
    }
    table.m_Rows.push_back(std::move(records[r]));
  }
  return table;
}

namespace
{
std::string
QuoteField(const std::string & s, char delimiter)
{
  // A field that begins with a UTF-8 byte order mark is quoted: Parse() strips one at the start
  // of a file, which would take it from a first column's name (found by fuzz/FuzzTable.cxx).
  if (s.find_first_of(std::string("\"\n\r") + delimiter) == std::string::npos && s.compare(0, 3, "\xEF\xBB\xBF") != 0)
  {
    return s;
  }
  std::string out = "\"";
  for (char c : s)
  {
    if (c == '"')
    {
      out += '"';
    }
    out += c;
  }
  return out + "\"";
}
} // namespace

std::string
MicrostructureTable::ToCSV(char delimiter) const
{
  std::ostringstream os;
  auto               writeRow = [&os, delimiter](const std::vector<std::string> & row) {
    for (std::size_t c = 0; c < row.size(); ++c)
    {
      if (c)
      {
        os << delimiter;
      }
      os << QuoteField(row[c], delimiter);
    }
    os << '\n';
  };
  writeRow(m_Columns);
  for (const auto & row : m_Rows)
  {
    writeRow(row);
  }
  return os.str();
}

void
MicrostructureTable::Write(const std::string & path) const
{
  WriteTextFileAtomically(path, ToCSV(DelimiterFor(path)));
}

bool
MicrostructureTable::HasColumn(const std::string & name) const
{
  for (const auto & c : m_Columns)
  {
    if (c == name)
    {
      return true;
    }
  }
  return false;
}

std::size_t
MicrostructureTable::GetColumnIndex(const std::string & name) const
{
  for (std::size_t c = 0; c < m_Columns.size(); ++c)
  {
    if (m_Columns[c] == name)
    {
      return c;
    }
  }
  std::ostringstream cols;
  for (std::size_t c = 0; c < m_Columns.size(); ++c)
  {
    cols << (c ? ", " : "") << m_Columns[c];
  }
  itkGenericExceptionMacro(<< "The table has no column '" << name << "'. Its columns are: " << cols.str() << ".");
}

const std::string &
MicrostructureTable::Get(std::size_t row, std::size_t column) const
{
  if (row >= m_Rows.size() || column >= m_Columns.size())
  {
    itkGenericExceptionMacro(<< "Table cell (" << row << ", " << column << ") is out of range: the table has "
                             << m_Rows.size() << " rows and " << m_Columns.size() << " columns.");
  }
  return m_Rows[row][column];
}

const std::string &
MicrostructureTable::Get(std::size_t row, const std::string & column) const
{
  return Get(row, GetColumnIndex(column));
}

double
MicrostructureTable::GetNumber(std::size_t row, const std::string & column) const
{
  const std::string & s = Get(row, column);
  if (s.empty())
  {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const char * first = s.data();
  const char * last = s.data() + s.size();
  while (first < last && *first == ' ')
  {
    ++first;
  }
  while (last > first && last[-1] == ' ')
  {
    --last;
  }
  if (first < last && *first == '+')
  {
    ++first;
  }
  double v = 0.0;
  auto   res = std::from_chars(first, last, v);
  if (res.ec != std::errc() || res.ptr != last)
  {
    itkGenericExceptionMacro(<< "Table row " << row + 1 << ", column '" << column << "': '" << s
                             << "' is not a number.");
  }
  return v;
}

std::vector<double>
MicrostructureTable::GetNumericColumn(const std::string & column) const
{
  std::vector<double> out(m_Rows.size());
  for (std::size_t r = 0; r < m_Rows.size(); ++r)
  {
    out[r] = GetNumber(r, column);
  }
  return out;
}

std::vector<std::string>
MicrostructureTable::GetColumn(const std::string & column) const
{
  const std::size_t        c = GetColumnIndex(column);
  std::vector<std::string> out(m_Rows.size());
  for (std::size_t r = 0; r < m_Rows.size(); ++r)
  {
    out[r] = m_Rows[r][c];
  }
  return out;
}

void
MicrostructureTable::AddColumn(const std::string & name, const std::string & fill)
{
  if (HasColumn(name))
  {
    itkGenericExceptionMacro(<< "The table already has a column '" << name << "'.");
  }
  m_Columns.push_back(name);
  for (auto & row : m_Rows)
  {
    row.push_back(fill);
  }
}

void
MicrostructureTable::AddRow(std::vector<std::string> values)
{
  if (values.size() != m_Columns.size())
  {
    itkGenericExceptionMacro(<< "A row of " << values.size() << " values cannot go into a table of " << m_Columns.size()
                             << " columns.");
  }
  m_Rows.push_back(std::move(values));
}

void
MicrostructureTable::Set(std::size_t row, const std::string & column, const std::string & value)
{
  const std::size_t c = GetColumnIndex(column);
  if (row >= m_Rows.size())
  {
    itkGenericExceptionMacro(<< "Row " << row << " is out of range: the table has " << m_Rows.size() << " rows.");
  }
  m_Rows[row][c] = value;
}

std::string
MicrostructureTable::FormatNumber(double value)
{
  if (std::isnan(value))
  {
    return "nan";
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, res.ptr);
}
} // end namespace itk
