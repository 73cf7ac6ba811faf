/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureTable_h
#define itkMicrostructureTable_h

#include "StochasticMicrostructureExport.h"

#include <string>
#include <vector>

namespace itk
{
/** \class MicrostructureTable
 * \brief A small CSV table: micrograph lists, per-patch condition tables,
 * measurement results.
 *
 * RFC 4180 quoting (fields with the delimiter, quotes or newlines are quoted). Read and Write
 * choose the delimiter by the file's extension: a tab for .tsv (Slicer's default for a table),
 * a comma otherwise.
 * Reading a malformed file (a row with the wrong number of fields, an
 * unterminated quote, no header) throws itk::ExceptionObject naming the file
 * and line. Lookups of a missing column throw and list the columns there are.
 *
 * \ingroup StochasticMicrostructure
 */
class StochasticMicrostructure_EXPORT MicrostructureTable
{
public:
  MicrostructureTable() = default;
  explicit MicrostructureTable(std::vector<std::string> columnNames);

  static MicrostructureTable
  Read(const std::string & path);
  static MicrostructureTable
  Parse(const std::string & text, const std::string & sourceName = "<text>", char delimiter = ',');
  /** '\t' for a path ending in .tsv (any case), ',' otherwise. */
  static char
  DelimiterFor(const std::string & path);

  /** Write atomically (temp file + rename), tab-separated for a .tsv path. */
  void
  Write(const std::string & path) const;
  std::string
  ToCSV(char delimiter = ',') const;

  const std::vector<std::string> &
  GetColumnNames() const
  {
    return m_Columns;
  }
  std::size_t
  GetNumberOfRows() const
  {
    return m_Rows.size();
  }
  std::size_t
  GetNumberOfColumns() const
  {
    return m_Columns.size();
  }
  bool
  HasColumn(const std::string & name) const;
  /** Throws, listing the available columns, when `name` is absent. */
  std::size_t
  GetColumnIndex(const std::string & name) const;

  const std::string &
  Get(std::size_t row, const std::string & column) const;
  const std::string &
  Get(std::size_t row, std::size_t column) const;
  /** The value as a number; throws naming row and column when it is not one.
   * An empty cell is NaN. */
  double
  GetNumber(std::size_t row, const std::string & column) const;
  /** All values of a column as numbers (see GetNumber). */
  std::vector<double>
  GetNumericColumn(const std::string & column) const;
  std::vector<std::string>
  GetColumn(const std::string & column) const;

  void
  AddColumn(const std::string & name, const std::string & fill = "");
  /** Append a row; it must have one value per column. */
  void
  AddRow(std::vector<std::string> values);
  void
  Set(std::size_t row, const std::string & column, const std::string & value);

  /** Rows for which `keep(row)` is true, in order. */
  template <typename TPredicate>
  MicrostructureTable
  Select(TPredicate keep) const
  {
    MicrostructureTable out(m_Columns);
    for (std::size_t r = 0; r < m_Rows.size(); ++r)
    {
      if (keep(r))
      {
        out.m_Rows.push_back(m_Rows[r]);
      }
    }
    return out;
  }

  /** Format a number the way the tables store it (shortest round-trip form). */
  static std::string
  FormatNumber(double value);

private:
  std::vector<std::string>              m_Columns;
  std::vector<std::vector<std::string>> m_Rows;
};
} // end namespace itk

#endif
