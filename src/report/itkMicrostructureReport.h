/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureReport_h
#define itkMicrostructureReport_h

#include "itkImage.h"
#include "itkMicrostructureTable.h"

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace itk
{
/** \namespace itk::report
 * \brief The study report: PNG charts drawn with VTK, an image montage, PCA of
 * latent vectors, and an offline HTML page that ties them together.
 *
 * Library StochasticMicrostructureReport (src/report/); VTK stays inside it.
 * It serves the study application (apps/study/) and is not part of the
 * module's public API: this header is not installed.
 *
 * Display: the charts (WriteBoxPlot, WriteCurves, WriteScatter) render with
 * VTK's OpenGL context, which on Debian's VTK 9.1 needs an X display even when
 * rendering offscreen (without one VTK crashes). Each of them first calls
 * HasDisplay() and throws itk::ExceptionObject ("no X display: run under
 * xvfb-run -a ...") instead of crashing; no file is written then. WriteMontage,
 * PrincipalComponents, HtmlReport and TableToJson need no display.
 *
 * Every file is written atomically (temporary sibling + rename): an exception
 * or an interruption leaves no half-written PNG or HTML behind.
 *
 * Bad input (mismatched sizes, no data, NaN where a number is needed, a
 * missing output folder, a path that is not .png) throws itk::ExceptionObject
 * saying what was wrong and what to do; nothing is written then.
 *
 * Colours: series and groups take the "tab10" palette in order (blue, orange,
 * green, red, purple, brown, pink, grey, olive, cyan), cycling after ten.
 *
 * Threads: VTK is not thread-safe; draw from one thread at a time.
 *
 * Typical use (the study CLI):
 * \code
 *   namespace rp = itk::report;
 *   rp::HtmlReport page;
 *   page.SetTitle("Study");
 *   page.AddHeading("Volume fraction", 2);
 *   page.AddTable(table, "Volume fraction per condition", 100, "tables/vf.csv");
 *   if (rp::HasDisplay())
 *   {
 *     rp::WriteBoxPlot(dir + "/figures/vf.png", "Volume fraction", "volume fraction", box);
 *     page.AddFigure("figures/vf.png", "Volume fraction: real, reconstructed, generated");
 *   }
 *   else
 *   {
 *     page.AddParagraph("Charts were not drawn: no X display (run under xvfb-run -a).");
 *   }
 *   page.Write(dir + "/index.html");
 * \endcode
 *
 * \ingroup StochasticMicrostructure
 */
namespace report
{
/** True when an X display can be opened (DISPLAY is set and XOpenDisplay
 * succeeds: libX11 is loaded at run time). When false and `why` is given, it
 * receives the reason. The first successful probe opens one X connection that
 * stays open for the life of the process and is shared by every chart's render
 * window (Xvfb resets when its last client disconnects and refuses clients
 * meanwhile: a probe that closed its connection would make VTK's own
 * connection fail now and then, and VTK aborts then). Later calls with the same
 * DISPLAY return true at once; a changed or unset DISPLAY is seen at the next
 * call. Thread-safe. */
bool
HasDisplay(std::string * why = nullptr);

/** Throws the "no X display" itk::ExceptionObject unless HasDisplay(). `what`
 * names the drawing asked for (it appears in the message). */
void
RequireDisplay(const std::string & what);

/** The RGB colour (0-255) given to series or group `index` (tab10, cycling). */
std::vector<unsigned char>
PaletteColor(std::size_t index);

/** Data of a grouped box plot. Values[s][g] holds the values of series s
 * (e.g. real / reconstructed / generated) in group g (e.g. a cooling rate).
 * Sizes: Values.size() == SeriesNames.size(), Values[s].size() == Groups.size().
 * NaN values are ignored; a (series, group) with no finite value draws no box. */
struct BoxPlotData
{
  std::vector<std::string>                      Groups;
  std::vector<std::string>                      SeriesNames;
  std::vector<std::vector<std::vector<double>>> Values; // [series][group] -> values
  /** Title of the group (x) axis, e.g. "cooling rate"; empty: none. */
  std::string GroupLabel;
  /** Whiskers: true (default) Tukey, to the furthest value within 1.5 IQR of
   * the box, values beyond drawn as points; false: to the minimum and maximum. */
  bool TukeyWhiskers = true;
  /** Y range; NaN (default): from the data with a 5 % margin. */
  double YMin = std::numeric_limits<double>::quiet_NaN();
  double YMax = std::numeric_limits<double>::quiet_NaN();
};

/** Quartiles the box plot draws: linear interpolation between order
 * statistics (numpy's default, "type 7"). `values` need not be sorted; NaN are
 * ignored. Throws when no finite value is left. Returns {q1, median, q3}. */
std::vector<double>
Quartiles(std::vector<double> values);

/** Grouped box plots: per group one box per series, side by side, coloured by
 * series with a legend; box = interquartile range, black line = median,
 * whiskers as BoxPlotData::TukeyWhiskers says. Group names label the x axis.
 * `width` x `height` pixels (at least 200 x 150). Throws without a display
 * (see HasDisplay) or on bad input. */
void
WriteBoxPlot(const std::string & png, const std::string & title, const std::string & yLabel, const BoxPlotData & data,
             unsigned width = 900, unsigned height = 520);

/** One line of WriteCurves: Mean against X, with a shaded band from Lower to
 * Upper (e.g. an ensemble's 5-95 % range) when both are given (same length as
 * X); both empty: no band. NaN points are left out. */
struct Curve
{
  std::string         Label;
  std::vector<double> X, Mean, Lower, Upper;
  /** Draw the line dashed (e.g. the real data against a solid generated one). */
  bool Dashed = false;
};

/** Lines with shaded bands (vtkPlotArea), one colour per curve, legend with
 * the labels: e.g. two-point correlation S2(r) of real and generated
 * microstructures, training curves. `logX` / `logY`: logarithmic axis (all X,
 * resp. all Mean/Lower/Upper values, must then be > 0). Throws without a
 * display or on bad input (no curve, size mismatch, no finite point). */
void
WriteCurves(const std::string & png, const std::string & title, const std::string & xLabel, const std::string & yLabel,
            const std::vector<Curve> & curves, bool logX = false, unsigned width = 900, unsigned height = 520,
            bool logY = false);

/** Points coloured by group: X[i], Y[i] belong to Group[i]. Group empty: one
 * group, no legend. Groups keep the order of their first appearance. */
struct ScatterData
{
  std::vector<double>      X, Y;
  std::vector<std::string> Group;
};

/** Scatter plot coloured by group with a legend (e.g. the first two principal
 * components of encoder outputs coloured by process condition). `markerSize`
 * in pixels. Throws without a display or on bad input. */
void
WriteScatter(const std::string & png, const std::string & title, const std::string & xLabel, const std::string & yLabel,
             const ScatterData & data, unsigned width = 900, unsigned height = 520, float markerSize = 6.0f);

/** Principal component analysis of `rows` observations of `cols` variables
 * (`data` row-major, rows x cols). Returns the projections of the centred data
 * on the first `components` principal axes, row-major rows x components
 * (column j has variance = the j-th largest eigenvalue of the covariance).
 * `explainedVarianceRatio`, when given, receives for each component its
 * eigenvalue / total variance.
 * Sign convention (deterministic): each axis is oriented so that its
 * largest-magnitude loading is positive.
 * Method: exact eigen-decomposition (vnl) of the covariance or of the Gram
 * matrix, whichever is smaller, when min(rows, cols) <= 400; otherwise a
 * randomized SVD (fixed seed, 10 extra vectors, 4 power iterations), as
 * accurate as the exact one when the leading eigenvalues stand apart from the
 * rest (latent arrays of a study); for a flat spectrum (pure noise) its axes
 * are approximate. Memory: a double copy of the data (8 x rows x cols bytes).
 * Time (one core, this machine): 5000 x 1000: 0.6 s; 4000 x 16384: 5.4 s.
 * Throws when rows < 2, data.size() != rows * cols, a value is not finite, or
 * components is 0 or exceeds min(rows, cols). */
std::vector<double>
PrincipalComponents(const std::vector<float> & data, std::size_t rows, std::size_t cols, unsigned components,
                    std::vector<double> * explainedVarianceRatio = nullptr);

using MontageImageType = itk::Image<unsigned char, 2>;

/** A grid of grey patches: row r shows rows[r] left to right (e.g. per
 * condition the real patches, then the generated ones), labelled on the left
 * with rowLabels[r] (empty vector: no label column); columnHeaders (optional)
 * label the columns on top. Text is rendered with VTK's FreeType renderer
 * into the PNG (dark grey, 14 px), so no display is needed.
 * Layout: white background; each cell is as large as the largest patch
 * (smaller ones centred, null entries and short rows leave the cell white);
 * `gutter` pixels of white between cells and around the grid. Without labels
 * and headers, the patch in row r, column c has its top-left pixel at
 * (gutter + c * (cellWidth + gutter), gutter + r * (cellHeight + gutter)),
 * pixel values copied unchanged (the PNG is RGB, grey patches have R=G=B).
 * Throws when there is no patch, rowLabels is neither empty nor one per row,
 * or the output cannot be written. */
void
WriteMontage(const std::string & png, const std::vector<std::string> & rowLabels,
             const std::vector<std::vector<MontageImageType::ConstPointer>> & rows,
             const std::vector<std::string> & columnHeaders = {}, unsigned gutter = 4);

/** A table as JSON: an array of objects, one per row, keyed by column name;
 * a cell that is a whole finite number is a JSON number, an empty cell or
 * "nan" is null, anything else a string. */
std::string
TableToJson(const itk::MicrostructureTable & table);

/** TableToJson written atomically. */
void
WriteTableJson(const std::string & path, const itk::MicrostructureTable & table);

/** \class HtmlReport
 * \brief An offline, self-contained HTML page: inline CSS, no scripts, no
 * external resources, relative links only, UTF-8.
 *
 * Build it top to bottom, then Write(). Text given to AddHeading,
 * AddParagraph, captions and table cells is escaped (itk::EscapeXml); AddHtml inserts raw
 * markup. Figures and links must be relative paths (resolved against the
 * folder of the written page); Write() reads each PNG figure's header to give
 * the <img> its width and height, and throws when a figure file is missing.
 * With two or more level-2 headings the page starts with a table of contents. */
class HtmlReport
{
public:
  void
  SetTitle(const std::string & title)
  {
    m_Title = title;
  }
  const std::string &
  GetTitle() const
  {
    return m_Title;
  }
  /** A heading, level 1 to 4. */
  void
  AddHeading(const std::string & text, unsigned level = 2);
  /** A paragraph of plain text (escaped; newlines become <br>). */
  void
  AddParagraph(const std::string & text);
  /** Raw HTML, inserted as is. */
  void
  AddHtml(const std::string & html);
  /** A table with a caption; at most `maxRows` rows are shown (0: all), with a
   * note giving the total, and a link to `csvRelativePath` when given. Cells
   * that are numbers are right-aligned. */
  void
  AddTable(const itk::MicrostructureTable & table, const std::string & caption, std::size_t maxRows = 100,
           const std::string & csvRelativePath = "");
  /** A figure (an image at a relative path) with its caption; `alt` defaults to
   * the caption. Throws when the path is absolute or has a scheme (http:, file:). */
  void
  AddFigure(const std::string & relativePath, const std::string & caption, const std::string & alt = "");
  /** A link to a file of the report (a CSV, a JSON table): relative path only. */
  void
  AddLink(const std::string & relativePath, const std::string & text);

  /** The page as text. `baseDirectory` resolves figure paths (for sizes). */
  std::string
  ToHtml(const std::string & baseDirectory) const;
  /** Write the page atomically (itk::WriteTextFileAtomically). Throws when the
   * folder does not exist or a figure is missing. */
  void
  Write(const std::string & path) const;

private:
  struct Block
  {
    enum Kind
    {
      Heading,
      Raw,
      Figure
    } Type{ Raw };
    std::string Text; // heading text or raw html
    unsigned    Level{ 0 };
    std::string Path;    // figure path
    std::string Caption; // figure caption
    std::string Alt;     // figure alt text
  };
  std::string        m_Title{ "Report" };
  std::vector<Block> m_Blocks;
};

} // namespace report
} // end namespace itk

#endif
