/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
// The parts of the report that need no VTK: display probe, palette,
// quartiles, PCA, JSON tables and the HTML page.
#include "itkMicrostructureReport.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureReportDisplay.h"
#include "itkMicrostructureText.h"

#include "vnl/algo/vnl_symmetric_eigensystem.h"
#include "vnl/vnl_matrix.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

namespace itk
{
namespace report
{
// ---------------------------------------------------------------- display
namespace
{
// One X connection per process, opened at the first successful probe and kept
// open. Xvfb resets itself whenever its last client disconnects, and a client
// connecting during that reset is refused (VTK then aborts or crashes): a
// probe that opened and closed its own connection right before VTK connects
// would cause exactly that. Keeping this connection open (and handing it to
// VTK's render windows) avoids it.
struct XConnection
{
  std::mutex  Mutex;
  void *      Library{ nullptr };
  void *      Display{ nullptr };
  std::string Name;
};
XConnection &
TheXConnection()
{
  static XConnection c;
  return c;
}
} // namespace

void *
SharedXDisplay(std::string * why)
{
  const char * display = std::getenv("DISPLAY");
  if (display == nullptr || display[0] == '\0')
  {
    if (why)
    {
      *why = "the DISPLAY environment variable is not set";
    }
    return nullptr;
  }
  XConnection &               c = TheXConnection();
  std::lock_guard<std::mutex> lock(c.Mutex);
  if (c.Display && c.Name == display)
  {
    return c.Display;
  }
  if (c.Library == nullptr)
  {
    // libX11 is loaded at run time: the library needs no X11 link of its own.
    c.Library = ::dlopen("libX11.so.6", RTLD_LAZY | RTLD_LOCAL);
    if (c.Library == nullptr)
    {
      if (why)
      {
        *why = "libX11.so.6 could not be loaded";
      }
      return nullptr;
    }
  }
  using OpenFn = void * (*)(const char *);
  auto openFn = reinterpret_cast<OpenFn>(::dlsym(c.Library, "XOpenDisplay"));
  if (openFn == nullptr)
  {
    if (why)
    {
      *why = "libX11.so.6 has no XOpenDisplay";
    }
    return nullptr;
  }
  void * dpy = openFn(display);
  if (dpy == nullptr)
  {
    if (why)
    {
      *why = std::string("the X display '") + display + "' (DISPLAY) cannot be opened";
    }
    return nullptr;
  }
  // A connection to a display that is no longer named stays open (render
  // windows made with it may still exist); it is one socket.
  c.Display = dpy;
  c.Name = display;
  return dpy;
}

bool
HasDisplay(std::string * why)
{
  return SharedXDisplay(why) != nullptr;
}

void
RequireDisplay(const std::string & what)
{
  std::string why;
  if (!HasDisplay(&why))
  {
    itkGenericExceptionMacro(<< "Cannot draw " << what << ": no X display (" << why
                             << "). VTK 9.1 renders charts offscreen only with an X server: run under "
                                "xvfb-run -a <command>, or set DISPLAY to a running X server.");
  }
}

std::vector<unsigned char>
PaletteColor(std::size_t index)
{
  static const unsigned char tab10[10][3] = { { 31, 119, 180 },  { 255, 127, 14 }, { 44, 160, 44 },   { 214, 39, 40 },
                                              { 148, 103, 189 }, { 140, 86, 75 },  { 227, 119, 194 }, { 127, 127, 127 },
                                              { 188, 189, 34 },  { 23, 190, 207 } };
  const auto &               c = tab10[index % 10];
  return { c[0], c[1], c[2] };
}

// ---------------------------------------------------------------- quartiles
std::vector<double>
Quartiles(std::vector<double> values)
{
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }), values.end());
  if (values.empty())
  {
    itkGenericExceptionMacro(<< "Quartiles of no finite value: give at least one number.");
  }
  std::sort(values.begin(), values.end());
  auto q = [&values](double p) {
    const double h = p * static_cast<double>(values.size() - 1);
    const auto   lo = static_cast<std::size_t>(std::floor(h));
    const auto   hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
  };
  return { q(0.25), q(0.5), q(0.75) };
}

// ---------------------------------------------------------------- PCA
namespace
{
// Orthonormalize the columns of m (rows x l) in place (modified Gram-Schmidt,
// twice for stability). A column that vanishes is left zero.
void
Orthonormalize(vnl_matrix<double> & m)
{
  for (int pass = 0; pass < 2; ++pass)
  {
    for (unsigned j = 0; j < m.cols(); ++j)
    {
      for (unsigned i = 0; i < j; ++i)
      {
        double dot = 0.0;
        for (unsigned r = 0; r < m.rows(); ++r)
        {
          dot += m(r, i) * m(r, j);
        }
        for (unsigned r = 0; r < m.rows(); ++r)
        {
          m(r, j) -= dot * m(r, i);
        }
      }
      double norm = 0.0;
      for (unsigned r = 0; r < m.rows(); ++r)
      {
        norm += m(r, j) * m(r, j);
      }
      norm = std::sqrt(norm);
      for (unsigned r = 0; r < m.rows(); ++r)
      {
        m(r, j) = norm > 1e-300 ? m(r, j) / norm : 0.0;
      }
    }
  }
}

// out (rows x l) = X (rows x cols, row-major) * w (cols x l).
void
Multiply(const std::vector<double> & x, std::size_t rows, std::size_t cols, const vnl_matrix<double> & w,
         vnl_matrix<double> & out)
{
  const unsigned l = w.cols();
  out.set_size(static_cast<unsigned>(rows), l);
  out.fill(0.0);
  for (std::size_t r = 0; r < rows; ++r)
  {
    double *       o = out[static_cast<unsigned>(r)];
    const double * xr = &x[r * cols];
    for (std::size_t c = 0; c < cols; ++c)
    {
      const double   v = xr[c];
      const double * wc = w[static_cast<unsigned>(c)];
      for (unsigned j = 0; j < l; ++j)
      {
        o[j] += v * wc[j];
      }
    }
  }
}

// out (cols x l) = X^T (X: rows x cols, row-major) * y (rows x l).
void
MultiplyTransposed(const std::vector<double> & x, std::size_t rows, std::size_t cols, const vnl_matrix<double> & y,
                   vnl_matrix<double> & out)
{
  const unsigned l = y.cols();
  out.set_size(static_cast<unsigned>(cols), l);
  out.fill(0.0);
  for (std::size_t r = 0; r < rows; ++r)
  {
    const double * yr = y[static_cast<unsigned>(r)];
    const double * xr = &x[r * cols];
    for (std::size_t c = 0; c < cols; ++c)
    {
      const double v = xr[c];
      double *     o = out[static_cast<unsigned>(c)];
      for (unsigned j = 0; j < l; ++j)
      {
        o[j] += v * yr[j];
      }
    }
  }
}
} // namespace

std::vector<double>
PrincipalComponents(const std::vector<float> & data, std::size_t rows, std::size_t cols, unsigned components,
                    std::vector<double> * explainedVarianceRatio)
{
  if (rows < 2 || cols < 1)
  {
    itkGenericExceptionMacro(<< "PCA needs at least 2 observations (rows) of at least 1 variable; got " << rows << " x "
                             << cols << ".");
  }
  if (data.size() != rows * cols)
  {
    itkGenericExceptionMacro(<< "PCA data has " << data.size() << " values, but rows x cols = " << rows << " x " << cols
                             << " = " << rows * cols << ": pass the matrix row-major.");
  }
  if (components == 0 || components > std::min(rows, cols))
  {
    itkGenericExceptionMacro(<< "PCA: asked for " << components << " components of a " << rows << " x " << cols
                             << " matrix; ask for 1 to " << std::min(rows, cols) << ".");
  }
  // Centre (double precision, row-major).
  std::vector<double> x(rows * cols);
  std::vector<double> mean(cols, 0.0);
  for (std::size_t r = 0; r < rows; ++r)
  {
    for (std::size_t c = 0; c < cols; ++c)
    {
      const double v = data[r * cols + c];
      if (!std::isfinite(v))
      {
        itkGenericExceptionMacro(<< "PCA data value at row " << r << ", column " << c
                                 << " is not a finite number: remove or fix it first.");
      }
      mean[c] += v;
    }
  }
  for (auto & m : mean)
  {
    m /= static_cast<double>(rows);
  }
  double total = 0.0;
  for (std::size_t r = 0; r < rows; ++r)
  {
    for (std::size_t c = 0; c < cols; ++c)
    {
      const double v = data[r * cols + c] - mean[c];
      x[r * cols + c] = v;
      total += v * v;
    }
  }
  const double n1 = static_cast<double>(rows - 1);
  total /= n1;

  const unsigned      k = components;
  vnl_matrix<double>  loadings(static_cast<unsigned>(cols), k, 0.0); // unit axes, one per column
  std::vector<double> eig(k, 0.0);                                   // covariance eigenvalues
  const std::size_t   small = std::min(rows, cols);
  if (small <= 400)
  {
    if (cols <= rows)
    {
      // Covariance (cols x cols), accumulated row by row (upper triangle).
      vnl_matrix<double> cov(static_cast<unsigned>(cols), static_cast<unsigned>(cols), 0.0);
      for (std::size_t r = 0; r < rows; ++r)
      {
        const double * xr = &x[r * cols];
        for (std::size_t i = 0; i < cols; ++i)
        {
          const double xi = xr[i];
          double *     ci = cov[static_cast<unsigned>(i)];
          for (std::size_t j = i; j < cols; ++j)
          {
            ci[j] += xi * xr[j];
          }
        }
      }
      for (unsigned i = 0; i < cols; ++i)
      {
        for (unsigned j = i; j < cols; ++j)
        {
          cov(i, j) /= n1;
          cov(j, i) = cov(i, j);
        }
      }
      const vnl_symmetric_eigensystem<double> es(cov);
      for (unsigned j = 0; j < k; ++j)
      {
        const unsigned src = static_cast<unsigned>(cols) - 1 - j; // ascending order
        eig[j] = std::max(0.0, es.D(src, src));
        loadings.set_column(j, es.V.get_column(src));
      }
    }
    else
    {
      // Gram matrix (rows x rows): X X^T = U S^2 U^T, axes V = X^T U / s.
      vnl_matrix<double> gram(static_cast<unsigned>(rows), static_cast<unsigned>(rows), 0.0);
      for (std::size_t a = 0; a < rows; ++a)
      {
        for (std::size_t b = a; b < rows; ++b)
        {
          double dot = 0.0;
          for (std::size_t c = 0; c < cols; ++c)
          {
            dot += x[a * cols + c] * x[b * cols + c];
          }
          gram(static_cast<unsigned>(a), static_cast<unsigned>(b)) = dot;
          gram(static_cast<unsigned>(b), static_cast<unsigned>(a)) = dot;
        }
      }
      const vnl_symmetric_eigensystem<double> es(gram);
      vnl_matrix<double>                      u(static_cast<unsigned>(rows), k, 0.0);
      std::vector<double>                     s(k, 0.0);
      for (unsigned j = 0; j < k; ++j)
      {
        const unsigned src = static_cast<unsigned>(rows) - 1 - j;
        const double   s2 = std::max(0.0, es.D(src, src));
        eig[j] = s2 / n1;
        s[j] = std::sqrt(s2);
        u.set_column(j, es.V.get_column(src));
      }
      MultiplyTransposed(x, rows, cols, u, loadings);
      for (unsigned j = 0; j < k; ++j)
      {
        loadings.set_column(j, s[j] > 0.0 ? loadings.get_column(j) / s[j] : loadings.get_column(j) * 0.0);
      }
    }
  }
  else
  {
    // Randomized SVD (Halko, Martinsson & Tropp 2011), fixed seed; the data
    // are streamed row by row, never transposed or copied.
    const unsigned                   l = std::min<unsigned>(k + 10, static_cast<unsigned>(small));
    vnl_matrix<double>               omega(static_cast<unsigned>(cols), l);
    std::mt19937_64                  rng(20210825u);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (unsigned i = 0; i < omega.rows(); ++i)
    {
      for (unsigned j = 0; j < l; ++j)
      {
        omega(i, j) = normal(rng);
      }
    }
    vnl_matrix<double> y(static_cast<unsigned>(rows), l), z(static_cast<unsigned>(cols), l);
    Multiply(x, rows, cols, omega, y); // rows x l
    Orthonormalize(y);
    for (int it = 0; it < 4; ++it)
    {
      MultiplyTransposed(x, rows, cols, y, z); // cols x l
      Orthonormalize(z);
      Multiply(x, rows, cols, z, y);
      Orthonormalize(y);
    }
    MultiplyTransposed(x, rows, cols, y, z);                       // B^T = X^T Q, cols x l
    const vnl_symmetric_eigensystem<double> es(z.transpose() * z); // B B^T, l x l
    for (unsigned j = 0; j < k; ++j)
    {
      const unsigned src = l - 1 - j;
      const double   s2 = std::max(0.0, es.D(src, src));
      eig[j] = s2 / n1;
      if (s2 > 0.0)
      {
        loadings.set_column(j, z * es.V.get_column(src) / std::sqrt(s2));
      }
    }
  }
  // Orientation: the largest-magnitude loading of each axis is positive.
  for (unsigned j = 0; j < k; ++j)
  {
    unsigned best = 0;
    for (unsigned i = 1; i < loadings.rows(); ++i)
    {
      if (std::abs(loadings(i, j)) > std::abs(loadings(best, j)) + 1e-12)
      {
        best = i;
      }
    }
    if (loadings(best, j) < 0.0)
    {
      loadings.set_column(j, -loadings.get_column(j));
    }
  }
  vnl_matrix<double> proj(static_cast<unsigned>(rows), k);
  Multiply(x, rows, cols, loadings, proj); // rows x k
  std::vector<double> out(proj.data_block(), proj.data_block() + rows * k);
  if (explainedVarianceRatio)
  {
    explainedVarianceRatio->assign(k, 0.0);
    for (unsigned j = 0; j < k; ++j)
    {
      (*explainedVarianceRatio)[j] = total > 0.0 ? eig[j] / total : 0.0;
    }
  }
  return out;
}

// ---------------------------------------------------------------- text helpers
namespace
{
bool
ParseWholeNumber(const std::string & s, double & value)
{
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back())))
  {
    return false;
  }
  char *       end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v))
  {
    return false;
  }
  // strtod accepts hex and "infinity"; keep plain decimal numbers only.
  for (const char ch : s)
  {
    if (!(std::isdigit(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '+' || ch == 'e' ||
          ch == 'E'))
    {
      return false;
    }
  }
  value = v;
  return true;
}

// Percent-encode a relative path for an href/src (keeps / and unreserved characters).
std::string
EncodePath(const std::string & path)
{
  std::string out;
  for (const char ch : path)
  {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/')
    {
      out += ch;
    }
    else
    {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

void
CheckRelative(const std::string & path, const char * what)
{
  const bool hasScheme = [&path] {
    const auto colon = path.find(':');
    return colon != std::string::npos && path.find('/') > colon;
  }();
  if (path.empty() || path.front() == '/' || path.front() == '\\' || hasScheme)
  {
    itkGenericExceptionMacro(<< "The report's " << what << " '" << path
                             << "' must be a non-empty relative path (e.g. figures/vf.png), so the report "
                                "opens offline from any place it is copied to.");
  }
}

// Width and height from a PNG's IHDR chunk; false when the file is not a PNG.
bool
ReadPngSize(const std::string & file, unsigned & width, unsigned & height)
{
  std::ifstream in(file, std::ios::binary);
  unsigned char h[24];
  if (!in.read(reinterpret_cast<char *>(h), sizeof(h)))
  {
    return false;
  }
  static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  if (!std::equal(sig, sig + 8, h) || std::string(reinterpret_cast<char *>(h + 12), 4) != "IHDR")
  {
    return false;
  }
  width = (unsigned(h[16]) << 24) | (unsigned(h[17]) << 16) | (unsigned(h[18]) << 8) | h[19];
  height = (unsigned(h[20]) << 24) | (unsigned(h[21]) << 16) | (unsigned(h[22]) << 8) | h[23];
  return true;
}

const char * const kStyle = R"css(
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 0; background: #fafafa; color: #222; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 1.8em; border-bottom: 2px solid #1f77b4; padding-bottom: 6px; }
h2 { font-size: 1.4em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.15em; margin-top: 1.5em; }
nav.toc { background: #f3f6fa; border: 1px solid #dde5ef; padding: 8px 20px; margin: 12px 0 24px; }
nav.toc ul { margin: 4px 0; padding-left: 20px; }
figure { margin: 20px 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { font-size: 0.92em; color: #555; margin-top: 6px; }
table { border-collapse: collapse; margin: 12px 0; font-size: 0.9em; }
caption { caption-side: top; text-align: left; font-weight: bold; padding: 4px 0; }
th, td { border: 1px solid #d8d8d8; padding: 3px 8px; }
th { background: #f0f3f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafbfc; }
.tablewrap { overflow-x: auto; }
p.note { font-size: 0.88em; color: #666; }
code { background: #f4f4f4; padding: 0 3px; }
)css";
} // namespace

std::string
TableToJson(const itk::MicrostructureTable & table)
{
  std::ostringstream os;
  const auto &       names = table.GetColumnNames();
  os << "[";
  for (std::size_t r = 0; r < table.GetNumberOfRows(); ++r)
  {
    os << (r ? ",\n " : "\n ") << "{";
    for (std::size_t c = 0; c < names.size(); ++c)
    {
      const std::string & cell = table.Get(r, c);
      os << (c ? ", " : "") << ToJsonString(names[c]) << ": ";
      double      v = 0.0;
      std::string lower = cell;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (cell.empty() || lower == "nan")
      {
        os << "null";
      }
      else if (ParseWholeNumber(cell, v))
      {
        os << itk::MicrostructureTable::FormatNumber(v);
      }
      else
      {
        os << ToJsonString(cell);
      }
    }
    os << "}";
  }
  os << (table.GetNumberOfRows() ? "\n]\n" : "]\n");
  return os.str();
}

void
WriteTableJson(const std::string & path, const itk::MicrostructureTable & table)
{
  itk::WriteTextFileAtomically(path, TableToJson(table));
}

// ---------------------------------------------------------------- HtmlReport
void
HtmlReport::AddHeading(const std::string & text, unsigned level)
{
  if (level < 1 || level > 4)
  {
    itkGenericExceptionMacro(<< "Heading level " << level << " for '" << text << "': use 1 to 4.");
  }
  Block b;
  b.Type = Block::Heading;
  b.Text = text;
  b.Level = level;
  m_Blocks.push_back(b);
}

void
HtmlReport::AddParagraph(const std::string & text)
{
  std::string escaped = EscapeXml(text);
  std::string html;
  for (const char ch : escaped)
  {
    html += ch == '\n' ? std::string("<br>\n") : std::string(1, ch);
  }
  AddHtml("<p>" + html + "</p>");
}

void
HtmlReport::AddHtml(const std::string & html)
{
  Block b;
  b.Type = Block::Raw;
  b.Text = html;
  m_Blocks.push_back(b);
}

void
HtmlReport::AddTable(const itk::MicrostructureTable & table, const std::string & caption, std::size_t maxRows,
                     const std::string & csvRelativePath)
{
  if (!csvRelativePath.empty())
  {
    CheckRelative(csvRelativePath, "table link");
  }
  const std::size_t  n = table.GetNumberOfRows();
  const std::size_t  shown = maxRows == 0 ? n : std::min(n, maxRows);
  std::ostringstream os;
  os << "<div class=\"tablewrap\"><table>\n<caption>" << EscapeXml(caption) << "</caption>\n<thead><tr>";
  for (const auto & name : table.GetColumnNames())
  {
    os << "<th>" << EscapeXml(name) << "</th>";
  }
  os << "</tr></thead>\n<tbody>\n";
  for (std::size_t r = 0; r < shown; ++r)
  {
    os << "<tr>";
    for (std::size_t c = 0; c < table.GetNumberOfColumns(); ++c)
    {
      const std::string & cell = table.Get(r, c);
      double              v = 0.0;
      os << (ParseWholeNumber(cell, v) ? "<td class=\"num\">" : "<td>") << EscapeXml(cell) << "</td>";
    }
    os << "</tr>\n";
  }
  os << "</tbody></table></div>\n";
  if (shown < n || !csvRelativePath.empty())
  {
    os << "<p class=\"note\">";
    if (shown < n)
    {
      os << "Showing the first " << shown << " of " << n << " rows. ";
    }
    if (!csvRelativePath.empty())
    {
      os << "Full table: <a href=\"" << EncodePath(csvRelativePath) << "\">" << EscapeXml(csvRelativePath) << "</a>";
    }
    os << "</p>";
  }
  AddHtml(os.str());
}

void
HtmlReport::AddFigure(const std::string & relativePath, const std::string & caption, const std::string & alt)
{
  CheckRelative(relativePath, "figure");
  Block b;
  b.Type = Block::Figure;
  b.Path = relativePath;
  b.Caption = caption;
  b.Alt = alt.empty() ? caption : alt;
  m_Blocks.push_back(b);
}

void
HtmlReport::AddLink(const std::string & relativePath, const std::string & text)
{
  CheckRelative(relativePath, "link");
  AddHtml("<p><a href=\"" + EncodePath(relativePath) + "\">" + EscapeXml(text) + "</a></p>");
}

std::string
HtmlReport::ToHtml(const std::string & baseDirectory) const
{
  namespace fs = std::filesystem;
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
     << "<title>" << EscapeXml(m_Title) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n<main>\n";
  // Table of contents from the level-2 headings.
  std::size_t h2 = 0;
  for (const auto & b : m_Blocks)
  {
    h2 += (b.Type == Block::Heading && b.Level == 2) ? 1 : 0;
  }
  bool hasH1 = !m_Blocks.empty() && m_Blocks.front().Type == Block::Heading && m_Blocks.front().Level == 1;
  if (!hasH1)
  {
    os << "<h1>" << EscapeXml(m_Title) << "</h1>\n";
  }
  std::size_t id = 0;
  bool        tocWritten = h2 < 2;
  auto        writeToc = [&]() {
    os << "<nav class=\"toc\"><strong>Contents</strong>\n<ul>\n";
    std::size_t i = 0;
    for (const auto & b : m_Blocks)
    {
      if (b.Type == Block::Heading)
      {
        ++i;
        if (b.Level == 2)
        {
          os << "<li><a href=\"#s" << i << "\">" << EscapeXml(b.Text) << "</a></li>\n";
        }
      }
    }
    os << "</ul></nav>\n";
    tocWritten = true;
  };
  if (!hasH1 && !tocWritten)
  {
    writeToc();
  }
  for (const auto & b : m_Blocks)
  {
    switch (b.Type)
    {
      case Block::Heading:
        ++id;
        os << "<h" << b.Level << " id=\"s" << id << "\">" << EscapeXml(b.Text) << "</h" << b.Level << ">\n";
        if (b.Level == 1 && !tocWritten)
        {
          writeToc();
        }
        break;
      case Block::Raw:
        os << b.Text << "\n";
        break;
      case Block::Figure: {
        const fs::path  file = fs::path(baseDirectory) / b.Path;
        std::error_code ec;
        if (!fs::is_regular_file(file, ec))
        {
          itkGenericExceptionMacro(<< "The report's figure '" << b.Path << "' does not exist (looked for '"
                                   << file.string()
                                   << "'): write the figures before the page, or leave the "
                                      "figure out.");
        }
        unsigned w = 0, h = 0;
        os << "<figure><img src=\"" << EncodePath(b.Path) << "\" alt=\"" << EscapeXml(b.Alt) << "\"";
        if (ReadPngSize(file.string(), w, h))
        {
          os << " width=\"" << w << "\" height=\"" << h << "\"";
        }
        os << " loading=\"eager\">\n<figcaption>" << EscapeXml(b.Caption) << "</figcaption></figure>\n";
        break;
      }
    }
  }
  os << "</main>\n</body>\n</html>\n";
  return os.str();
}

void
HtmlReport::Write(const std::string & path) const
{
  itk::CheckOutputPathWritable(path);
  std::string base = std::filesystem::path(path).parent_path().string();
  if (base.empty())
  {
    base = ".";
  }
  itk::WriteTextFileAtomically(path, ToHtml(base));
}

} // namespace report
} // namespace itk
