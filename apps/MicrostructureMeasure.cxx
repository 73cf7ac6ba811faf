/*=========================================================================
 *  MicrostructureMeasure (`measure`): Otsu phase segmentation and
 *  microstructure descriptors of micrographs or patch stacks, per image or
 *  patch (CSV) and per group (JSON: mean, variance, 95 % CI).
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "itkImageIOFactory.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkMicrostructureSummary.h"
#include "itkMicrostructureTable.h"

#include <cmath>
#include <filesystem>
#include <iostream>

namespace
{
using sm::cli::Module;

void
Declare(Module & m)
{
  m.Group("Input/Output");
  m.AddPositional("file",
                  "input",
                  0,
                  "input",
                  "Input",
                  "A 2D micrograph, a 3D stack of patches (last axis = patch; e.g. from MicrostructurePatches), "
                  "or a CSV listing micrographs (column 'file', relative to the CSV's folder).");
  m.Add("table",
        "patchTable",
        "table",
        "",
        "Patch table",
        "Optional per-patch table of a stack (MicrostructurePatches' --outputTable): one row per slice; its "
        "columns are copied into the output rows, so they can be used for grouping.")
    .fileExtensions = ".csv";
  m.Add("table",
        "outputTable",
        "outputTable",
        "",
        "Measurements (CSV)",
        "One row per image or patch: volume fraction, mean free path (pixels and micrometres), intercepts, "
        "chords, grain size number, particles counted, particles per square micrometre and their weighted mean "
        "equivalent-circle diameter (micrometres).")
    .channel = "output";
  m.Add("file",
        "outputSummary",
        "outputSummary",
        "",
        "Summary (JSON)",
        "Per group: n, mean, variance, standard deviation and 95 % confidence interval of each measure.")
    .channel = "output";
  m.Add("table",
        "outputCorrelation",
        "outputCorrelation",
        "",
        "Two-point correlation (CSV)",
        "Optional: S2(r) of the measured phase per image or patch (long format: one row per image and distance "
        "r, with S2 along x, along y and radially averaged).")
    .channel = "output";
  m.Add("table",
        "outputChords",
        "outputChords",
        "",
        "Chord lengths (CSV)",
        "Optional: chord-length distributions per image or patch, phase (foreground/background) and direction "
        "(h/v): one row per chord length present, with its count. Chords cut by the image edge are left out.")
    .channel = "output";
  m.Add("table",
        "outputParticles",
        "outputParticles",
        "",
        "Particles (CSV)",
        "Optional: every particle (4-connected region of the measured phase) per image or patch: area, "
        "equivalent-circle diameter, bounding box, whether the image edge cuts it, whether the counting frame "
        "counts it (it reaches neither the last column nor the last row) and its size-distribution weight "
        "(Miles-Lantuejoul; 0 for a particle cut by the edge).")
    .channel = "output";
  m.Add("image",
        "outputPhaseMap",
        "outputPhaseMap",
        "",
        "Phase map",
        "Optional: the 0/1 phase map that was measured (1 = the measured phase), of the input's size: to check the "
        "segmentation by eye. Not for a CSV list of micrographs.")
    .channel = "output";
  m.Add("directory",
        "confineReads",
        "confineReads",
        "",
        "Confine reads to",
        "With a CSV list: refuse a listed micrograph (or the data file of a detached NRRD or MetaImage header) "
        "outside this folder, symbolic links and .. resolved, before measuring any: for a list from elsewhere, "
        "whose file column could name ../.. or /etc/passwd. Usually the list's own folder; empty = no confinement.");
  m.Group("Measurement");
  auto & fg = m.Add("string-enumeration",
                    "foreground",
                    "foreground",
                    "bright",
                    "Measured phase",
                    "Which Otsu phase is measured: bright (ferrite in etched steel, the default) or dark.");
  fg.elements = { "bright", "dark" };
  m.Add("boolean",
        "binary",
        "binary",
        "false",
        "Input is a phase map",
        "The input is already a label image: pixels equal to --foregroundValue are the measured phase (no Otsu).");
  m.Add("integer",
        "foregroundValue",
        "foregroundValue",
        "1",
        "Foreground value",
        "With --binary: the label of the measured phase.");
  auto & smoothing = m.Add("double",
                           "smoothing",
                           "smoothing",
                           "0",
                           "Smoothing before Otsu (px)",
                           "Standard deviation in pixels of a Gaussian applied to each image or patch before Otsu; 0 = "
                           "none. For noisy micrographs such as SEM images, where raw Otsu turns noise into particles "
                           "(0.5 px: bench/sem_segmentation.py). Not used with --binary.");
  smoothing.minimum = "0";
  smoothing.maximum = "20";
  smoothing.step = "0.1";
  auto & rule = m.Add("string-enumeration",
                      "edgeRule",
                      "edgeRule",
                      "astm",
                      "Edge rule",
                      "astm: a segment cut by the image edge counts 1/2 (ASTM E112); whole: counts 1 (Noguchi & "
                      "Inoue 2021).");
  rule.elements = { "astm", "whole" };
  auto & spacing = m.Add("integer",
                         "lineSpacing",
                         "lineSpacing",
                         "1",
                         "Test line spacing (px)",
                         "Pixels between horizontal (and vertical) test lines.");
  spacing.minimum = "1";
  spacing.maximum = "1000";
  auto & distance = m.Add("integer",
                          "correlationDistance",
                          "correlationDistance",
                          "0",
                          "S2 maximum distance (px)",
                          "Largest displacement of the two-point correlation; 0 = half the smaller image side.");
  distance.minimum = "0";
  distance.maximum = "65536";
  auto & pixelSize = m.Add("double",
                           "pixelSize",
                           "pixelSize",
                           "0",
                           "Pixel size (um)",
                           "Overrides the pixel size of the images (micrometres); 0 = the images' own spacing, or "
                           "with a CSV input its column um_per_px when present.");
  pixelSize.minimum = "0";
  pixelSize.maximum = "1000";
  pixelSize.step = "0.0001";
  m.Add("string",
        "groupBy",
        "groupBy",
        "",
        "Group by",
        "Column of the patch table or micrograph CSV whose values define the groups of the summary (e.g. "
        "cooling_rate_C_per_s).");
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("double", "meanVolumeFraction", "meanVolumeFraction", "", "Mean volume fraction", "Over all inputs.").channel =
    "output";
  m.Add("double", "meanFreePath", "meanFreePath", "", "Mean free path (um)", "Mean over all inputs.").channel =
    "output";
}

template <typename TPixel, unsigned int VDim>
std::vector<itk::MicrostructureSliceMeasurement>
MeasureFile(const Module & m, const std::string & path, double pixelSize, sm::cli::Progress & progress, double start,
            double span)
{
  using ImageType = itk::Image<TPixel, VDim>;
  auto image = itk::ReadScalarImage<ImageType>(path, /*allowConversion=*/true);
  itk::CheckFinitePixels(image.GetPointer(), path);
  if (pixelSize > 0)
  {
    auto spacing = image->GetSpacing();
    spacing[0] = spacing[1] = pixelSize;
    image->SetSpacing(spacing);
  }
  using MeasureType = itk::MicrostructureStackMeasurement<ImageType>;
  auto measure = MeasureType::New();
  measure->SetInput(image);
  measure->SetInputIsBinary(m.GetBool("binary"));
  measure->SetForegroundValue(static_cast<TPixel>(m.GetInt("foregroundValue")));
  measure->SetForegroundPhase(m.Get("foreground") == "dark" ? MeasureType::ForegroundPhaseEnum::Dark
                                                            : MeasureType::ForegroundPhaseEnum::Bright);
  measure->SetEdgeRule(m.Get("edgeRule") == "whole" ? MeasureType::EdgeRuleEnum::WholeCount
                                                    : MeasureType::EdgeRuleEnum::ASTMHalfCount);
  measure->SetLineSpacing(static_cast<itk::SizeValueType>(m.GetInt("lineSpacing")));
  measure->SetComputeCorrelation(!m.Get("outputCorrelation").empty());
  measure->SetChordHistograms(!m.Get("outputChords").empty());
  measure->SetKeepParticles(!m.Get("outputParticles").empty());
  measure->SetCorrelationMaximumDistance(static_cast<unsigned int>(m.GetInt("correlationDistance")));
  measure->SetSmoothingSigma(m.GetDouble("smoothing"));
  measure->SetKeepSegmentation(!m.Get("outputPhaseMap").empty());
  progress.Observe(measure, start, span);
  measure->Update();
  if (!m.Get("outputPhaseMap").empty())
  {
    itk::WriteImageAtomically(measure->GetSegmentation(), m.Get("outputPhaseMap"));
  }
  return measure->GetMeasurements();
}

/** Reads the file's header to pick the pixel type (8-bit stays 8-bit so Otsu
 * bins integer levels; anything else is measured as float) and dimension. */
std::vector<itk::MicrostructureSliceMeasurement>
Measure(const Module & m, const std::string & path, double pixelSize, sm::cli::Progress & progress, double start,
        double span)
{
  auto io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  if (!io)
  {
    itkGenericExceptionMacro(<< "Cannot read '" << path
                             << "': it does not exist or is not an image format ITK knows (PNG, TIFF, NRRD, MHA).");
  }
  io->SetFileName(path);
  io->ReadImageInformation();
  const bool     is8bit = io->GetComponentType() == itk::IOComponentEnum::UCHAR;
  const unsigned dim = io->GetNumberOfDimensions();
  const bool     stack = dim == 3 && io->GetDimensions(2) > 1;
  if (dim > 3)
  {
    itkGenericExceptionMacro(<< "'" << path << "' has " << dim << " dimensions; give a 2D image or a 3D stack.");
  }
  if (stack)
  {
    return is8bit ? MeasureFile<unsigned char, 3>(m, path, pixelSize, progress, start, span)
                  : MeasureFile<float, 3>(m, path, pixelSize, progress, start, span);
  }
  return is8bit ? MeasureFile<unsigned char, 2>(m, path, pixelSize, progress, start, span)
                : MeasureFile<float, 2>(m, path, pixelSize, progress, start, span);
}

/** Prepend the columns of `meta` (same number of rows) to `measured`. */
itk::MicrostructureTable
Join(const itk::MicrostructureTable & meta, const itk::MicrostructureTable & measured)
{
  std::vector<std::string> columns = meta.GetColumnNames();
  for (const auto & c : measured.GetColumnNames())
  {
    columns.push_back(meta.HasColumn(c) ? "measured_" + c : c);
  }
  itk::MicrostructureTable out(columns);
  for (std::size_t r = 0; r < measured.GetNumberOfRows(); ++r)
  {
    std::vector<std::string> row;
    for (std::size_t c = 0; c < meta.GetNumberOfColumns(); ++c)
    {
      row.push_back(meta.Get(r, c));
    }
    for (std::size_t c = 0; c < measured.GetNumberOfColumns(); ++c)
    {
      row.push_back(measured.Get(r, c));
    }
    out.AddRow(std::move(row));
  }
  return out;
}

/** A long-format table: one row per image/patch and item (distance, chord length), keyed by
 * the image/patch row and, when grouping, its group. */
class LongTable
{
public:
  LongTable(const itk::MicrostructureTable & table, std::string groupBy, std::vector<std::string> valueColumns)
    : m_Table(table)
    , m_GroupBy(std::move(groupBy))
  {
    std::vector<std::string> columns = { "row" };
    if (!m_GroupBy.empty())
    {
      columns.push_back(m_GroupBy);
    }
    columns.insert(columns.end(), valueColumns.begin(), valueColumns.end());
    m_Out = itk::MicrostructureTable(columns);
  }
  void
  Add(std::size_t row, const std::vector<std::string> & values)
  {
    std::vector<std::string> cells = { std::to_string(row) };
    if (!m_GroupBy.empty())
    {
      cells.push_back(m_Table.Get(row, m_GroupBy));
    }
    cells.insert(cells.end(), values.begin(), values.end());
    m_Out.AddRow(std::move(cells));
  }
  const itk::MicrostructureTable &
  Get() const
  {
    return m_Out;
  }

private:
  const itk::MicrostructureTable & m_Table;
  std::string                      m_GroupBy;
  itk::MicrostructureTable         m_Out;
};

/** S2 curves: one row per image/patch and distance. */
itk::MicrostructureTable
CorrelationTable(const std::vector<itk::MicrostructureSliceMeasurement> & results,
                 const itk::MicrostructureTable & table, const std::string & groupBy)
{
  LongTable  out(table, groupBy, { "r_px", "r_um", "s2_x", "s2_y", "s2_radial" });
  const auto f = [](double v) { return itk::MicrostructureTable::FormatNumber(v); };
  for (std::size_t i = 0; i < results.size(); ++i)
  {
    const auto & r = results[i];
    for (std::size_t k = 0; k < r.CorrelationRadial.size(); ++k)
    {
      // r_um along x; the radial curve assumes square pixels.
      out.Add(i,
              { std::to_string(k),
                f(k * r.PixelSizeX),
                f(r.CorrelationX[k]),
                f(r.CorrelationY[k]),
                f(r.CorrelationRadial[k]) });
    }
  }
  return out.Get();
}

/** Chord-length distributions: one row per image/patch, phase, direction and length present. */
itk::MicrostructureTable
ChordTable(const std::vector<itk::MicrostructureSliceMeasurement> & results, const itk::MicrostructureTable & table,
           const std::string & groupBy)
{
  LongTable    out(table, groupBy, { "phase", "direction", "length_px", "length_um", "count" });
  const char * phase[4] = { "foreground", "foreground", "background", "background" };
  const char * direction[4] = { "h", "v", "h", "v" };
  for (std::size_t i = 0; i < results.size(); ++i)
  {
    const auto & r = results[i];
    for (unsigned h = 0; h < 4; ++h)
    {
      const double um = (h % 2 == 0) ? r.PixelSizeX : r.PixelSizeY;
      for (std::size_t k = 0; k < r.ChordHistograms[h].size(); ++k)
      {
        if (r.ChordHistograms[h][k] > 0)
        {
          out.Add(i,
                  { phase[h],
                    direction[h],
                    std::to_string(k),
                    itk::MicrostructureTable::FormatNumber(k * um),
                    std::to_string(r.ChordHistograms[h][k]) });
        }
      }
    }
  }
  return out.Get();
}

/** Particles: one row per image/patch and particle. */
itk::MicrostructureTable
ParticleTable(const std::vector<itk::MicrostructureSliceMeasurement> & results, const itk::MicrostructureTable & table,
              const std::string & groupBy)
{
  LongTable out(
    table,
    groupBy,
    { "area_px", "diameter_px", "diameter_um", "left", "top", "width", "height", "edge", "counted", "weight" });
  const auto f = [](double v) { return itk::MicrostructureTable::FormatNumber(v); };
  for (std::size_t i = 0; i < results.size(); ++i)
  {
    for (const auto & p : results[i].Particles)
    {
      out.Add(i,
              { std::to_string(p.Area),
                f(p.EquivalentDiameter),
                f(p.EquivalentDiameterPhysical),
                std::to_string(p.Left),
                std::to_string(p.Top),
                std::to_string(p.Width),
                std::to_string(p.Height),
                p.TouchesEdge ? "1" : "0",
                p.Counted ? "1" : "0",
                f(p.Weight) });
    }
  }
  return out.Get();
}

int
Body(Module & m)
{
  namespace fs = std::filesystem;
  const std::string input = m.Get("input");
  const std::string outTable = m.Get("outputTable");
  const std::string outSummary = m.Get("outputSummary");
  const std::string outCorrelation = m.Get("outputCorrelation");
  const std::string outChords = m.Get("outputChords");
  const std::string outParticles = m.Get("outputParticles");
  const std::string outPhaseMap = m.Get("outputPhaseMap");
  if (outTable.empty() && outSummary.empty() && outCorrelation.empty() && outChords.empty() && outParticles.empty() &&
      outPhaseMap.empty())
  {
    throw std::invalid_argument("nothing to write: give --outputTable, --outputSummary, --outputCorrelation, "
                                "--outputChords, --outputParticles and/or --outputPhaseMap");
  }
  for (const auto & p : { outTable, outSummary, outCorrelation, outChords, outParticles, outPhaseMap })
  {
    if (!p.empty())
    {
      itk::CheckOutputPathWritable(p);
    }
  }
  // 0 (the default, and what Slicer sends for an untouched box) = the images' or the CSV's own.
  const double pixelSize = m.Get("pixelSize").empty() ? 0.0 : m.GetDouble("pixelSize");
  if (!(pixelSize >= 0) || !std::isfinite(pixelSize))
  {
    throw std::invalid_argument("--pixelSize must be a positive number of micrometres (or 0: the images' own)");
  }

  sm::cli::Progress        progress("MicrostructureMeasure", "Otsu segmentation and microstructure descriptors");
  itk::MicrostructureTable meta;
  std::vector<itk::MicrostructureSliceMeasurement> results;
  const bool                                       isList = fs::path(input).extension() == ".csv";
  if (isList && !outPhaseMap.empty())
  {
    throw std::invalid_argument("--outputPhaseMap writes one image or stack; '" + input +
                                "' is a list of micrographs (of any sizes): measure one micrograph or a patch stack");
  }
  if (isList)
  {
    meta = itk::MicrostructureTable::Read(input);
    if (meta.GetNumberOfRows() == 0)
    {
      itkGenericExceptionMacro(<< "No rows in '" << input
                               << "': it has a header but lists no micrographs. Add one row per micrograph "
                                  "(column 'file').");
    }
    const auto base = fs::path(input).parent_path();
    const auto files = meta.GetColumn("file");
    if (!m.Get("confineReads").empty())
    {
      if (!fs::is_directory(m.Get("confineReads")))
        throw std::invalid_argument("--confineReads " + m.Get("confineReads") +
                                    " is not a folder: give the folder "
                                    "of the micrograph list");
      for (std::size_t r = 0; r < files.size(); ++r)
        itk::CheckReadConfined((base / files[r]).string(),
                               m.Get("confineReads"),
                               "Data row " + std::to_string(r + 1) + " of '" + input + "' lists the file '" + files[r] +
                                 "' (column file), which");
    }
    const bool hasPixelSize = meta.HasColumn("um_per_px");
    for (std::size_t r = 0; r < files.size(); ++r)
    {
      const std::string path = (base / files[r]).string();
      const double      ps = pixelSize > 0 ? pixelSize : (hasPixelSize ? meta.GetNumber(r, "um_per_px") : 0.0);
      auto              one = Measure(m, path, ps, progress, double(r) / files.size(), 1.0 / files.size());
      if (one.size() != 1)
      {
        itkGenericExceptionMacro(<< "'" << path << "' listed in " << input
                                 << " is a stack; list 2D micrographs, or measure the stack directly.");
      }
      one[0].SliceIndex = r;
      results.push_back(one[0]);
    }
  }
  else
  {
    results = Measure(m, input, pixelSize, progress, 0.0, 1.0);
    if (!m.Get("patchTable").empty())
    {
      meta = itk::MicrostructureTable::Read(m.Get("patchTable"));
      if (meta.GetNumberOfRows() != results.size())
      {
        itkGenericExceptionMacro(<< "The patch table '" << m.Get("patchTable") << "' has " << meta.GetNumberOfRows()
                                 << " rows but '" << input << "' has " << results.size()
                                 << " patches: give the table written together with this stack.");
      }
    }
  }
  itk::MicrostructureTable table = itk::MicrostructureMeasurementsToTable(results);
  if (meta.GetNumberOfColumns() > 0)
  {
    table = Join(meta, table);
  }
  const std::string groupBy = m.Get("groupBy");
  if (!groupBy.empty() && !table.HasColumn(groupBy))
  {
    table.GetColumnIndex(groupBy); // throws, listing the columns there are
  }
  const std::vector<std::string> metrics = { "volume_fraction",          "mean_free_path_um",
                                             "mean_free_path_h_um",      "mean_free_path_v_um",
                                             "mean_free_path_px",        "grain_size_number",
                                             "particle_density_per_um2", "particle_mean_diameter_um" };
  const auto                     groups = itk::MicrostructureSummary::Summarize(table, metrics, groupBy);
  const auto                     all = itk::MicrostructureSummary::Summarize(table, metrics, "");
  if (!outTable.empty())
  {
    table.Write(outTable);
  }
  if (!outCorrelation.empty())
  {
    CorrelationTable(results, table, groupBy).Write(outCorrelation);
  }
  if (!outChords.empty())
  {
    ChordTable(results, table, groupBy).Write(outChords);
  }
  if (!outParticles.empty())
  {
    ParticleTable(results, table, groupBy).Write(outParticles);
  }
  if (!outSummary.empty())
  {
    std::map<std::string, std::string> meta2 = {
      { "input", input },
      { "edge_rule", m.Get("edgeRule") },
      { "foreground", m.GetBool("binary") ? "label " + m.Get("foregroundValue") : m.Get("foreground") }
    };
    itk::WriteTextFileAtomically(outSummary, itk::MicrostructureSummary::ToJSON(groups, groupBy, meta2));
  }
  m.SetReturn("meanVolumeFraction", itk::MicrostructureTable::FormatNumber(all[0].metrics[0].mean));
  m.SetReturn("meanFreePath", itk::MicrostructureTable::FormatNumber(all[0].metrics[1].mean));
  progress.End();
  // A short table on stderr for a person at a terminal.
  std::cerr << "measured " << table.GetNumberOfRows() << (isList ? " micrographs" : " images/patches") << "\n";
  for (const auto & g : groups)
  {
    std::cerr << "  " << (groupBy.empty() ? std::string("all") : groupBy + "=" + g.group) << ": n=" << g.count
              << "  V_f=" << g.metrics[0].mean << " (var " << g.metrics[0].variance << ")"
              << "  d_f=" << g.metrics[1].mean << " um\n";
  }
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m(
    "Measure Microstructure",
    "Microstructure",
    "Otsu phase segmentation (ITK's OtsuThresholdImageFilter, per image or per patch) and microstructure "
    "descriptors: phase volume fraction, mean free path d_f = L_L / N_L along horizontal and vertical test "
    "lines (ASTM E112 edge rule by default), chord lengths, the ASTM E112 grain size number and the particle (grain) "
    "number per area and equivalent-circle diameters. Writes a "
    "CSV row per image or patch and a JSON summary (mean, variance, 95 % CI) per group.");
  Declare(m);
  return sm::cli::Run(m, argc, argv, Body);
}
