/*=========================================================================
 *  MicrostructureInferCondition (`infer`): the inverse direction. For a
 *  micrograph or a stack of patches, the posterior over one continuous
 *  process parameter on a grid (uniform prior): the exact likelihood of each
 *  patch's VQ-VAE index map under the conditional prior, pooled over the
 *  patches with the sandwich adjustment for their dependence and
 *  overdispersion (itk::MicrostructurePosterior), widened by the model's own
 *  error where cross-validation measured it (--modelError).
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "MicrostructureModelCLI.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructurePosterior.h"
#include "itkMicrostructureTable.h"
#include "itkPatchExtractionImageFilter.h"
#include "itkPixelCNNPriorModel.h"
#include "itkVQEncodeImageFilter.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <sstream>

namespace
{
using sm::cli::Module;
using Prior = itk::PixelCNNPriorModel;

/** Index maps of the input: one per patch of a 3D stack; a 2D micrograph larger than the prior's
 * training patch (patch x patch pixels, 0 = unknown) is cut into such patches first (non-overlapping,
 * from the top left; the remainder at the right and bottom is left out), each encoded on its own as
 * the training patches were, so that every map is one of the kind the prior was trained and
 * calibrated on; a smaller one is one map. n, h, w: the maps' count and size; tiles: whether the
 * micrograph was cut. */
std::vector<int32_t>
EncodeInput(const std::string & path, itk::VQVAEModel * vqvae, unsigned int patchH, unsigned int patchW,
            unsigned int & n, unsigned int & h, unsigned int & w, bool & tiles, sm::cli::Progress & progress)
{
  auto run = [&](auto image, auto encode) {
    encode->SetInput(image);
    encode->SetModel(vqvae);
    progress.Observe(encode, 0.05, 0.15);
    encode->Update();
    const auto size = encode->GetOutput()->GetLargestPossibleRegion().GetSize();
    w = static_cast<unsigned int>(size[0]);
    h = static_cast<unsigned int>(size[1]);
    n = size.GetSizeDimension() == 3 ? static_cast<unsigned int>(size[size.GetSizeDimension() - 1]) : 1u;
    const auto * p = encode->GetOutput()->GetBufferPointer();
    return std::vector<int32_t>(p, p + static_cast<size_t>(n) * w * h);
  };
  using StackType = itk::Image<unsigned char, 3>;
  using StackMapType = itk::Image<unsigned short, 3>;
  tiles = false;
  if (sm::cli::IsImageStack(path))
    return run(itk::ReadScalarImage<StackType>(path), itk::VQEncodeImageFilter<StackType, StackMapType>::New());
  using ImageType = itk::Image<unsigned char, 2>;
  auto       image = itk::ReadScalarImage<ImageType>(path);
  const auto size = image->GetLargestPossibleRegion().GetSize();
  if (patchH > 0 && patchW > 0 && size[0] >= patchW && size[1] >= patchH && (size[0] > patchW || size[1] > patchH))
  {
    auto cut = itk::PatchExtractionImageFilter<ImageType, StackType>::New();
    cut->SetInput(image);
    cut->SetPatchSize({ { patchW, patchH } });
    cut->Update();
    tiles = true;
    return run(cut->GetOutput(), itk::VQEncodeImageFilter<StackType, StackMapType>::New());
  }
  using MapType = itk::Image<unsigned short, 2>;
  return run(image, itk::VQEncodeImageFilter<ImageType, MapType>::New());
}

int
Body(Module & m)
{
  for (const char * key : { "vqvae", "prior", "parameter" })
    if (m.Get(key).empty())
      throw std::invalid_argument(std::string("give --") + key);
  const std::string output = m.Get("output");
  itk::CheckOutputPathWritable(output);
  if (!m.Get("outputSummary").empty())
    itk::CheckOutputPathWritable(m.Get("outputSummary"));

  sm::cli::Progress progress("MicrostructureInferCondition", "posterior over a process parameter");
  auto              vqvae = itk::VQVAEModel::New();
  vqvae->SetDevice(m.Get("device"));
  vqvae->Read(m.Get("vqvae"));
  auto prior = Prior::New();
  prior->SetDevice(m.Get("device"));
  prior->Read(m.Get("prior"));
  prior->CheckCompatibleVQVAE(vqvae->GetHyperparameters().CodebookSize, vqvae->GetWeightsFingerprint());

  const std::string            parameter = m.Get("parameter");
  const Prior::ConditionSpec * spec = nullptr;
  for (const auto & s : prior->GetConditionSchema())
    if (s.Name == parameter)
      spec = &s;
  if (!spec || spec->Categorical)
  {
    std::string names;
    for (const auto & s : prior->GetConditionSchema())
      names += (names.empty() ? "" : ", ") + s.Name + (s.Categorical ? " (categorical)" : "");
    throw std::invalid_argument("--parameter " + parameter +
                                " is not a continuous process parameter of the prior (it has: " + names + ")");
  }
  // Grid: min:max:count, default the trained range widened by a quarter on each side, 61 points.
  double lo = spec->Minimum - 0.25 * (spec->Maximum - spec->Minimum);
  double hi = spec->Maximum + 0.25 * (spec->Maximum - spec->Minimum);
  int    count = 61;
  if (!m.Get("grid").empty())
  {
    double             a = 0, b = 0;
    int                c = 0;
    char               s1 = 0, s2 = 0;
    std::istringstream g(m.Get("grid"));
    if (!(g >> a >> s1 >> b >> s2 >> c) || s1 != ':' || s2 != ':' || !(b > a) || c < 3 || c > 100000 ||
        !std::isfinite(a) || !std::isfinite(b))
      throw std::invalid_argument("--grid " + m.Get("grid") +
                                  " is not min:max:count with finite max > min and count from 3 to 100000");
    lo = a;
    hi = b;
    count = c;
  }
  if (hi == lo)
    hi = lo + 1.0;
  std::vector<double> grid(count);
  for (int i = 0; i < count; ++i)
    grid[i] = lo + (hi - lo) * i / (count - 1);

  Prior::Condition others;
  for (const auto & pair : m.GetList("condition"))
  {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument("condition \"" + pair + "\" is not name=value");
    others[pair.substr(0, eq)] = pair.substr(eq + 1);
  }

  const int maximum = m.GetInt("maximumPatches");
  if (maximum < 0)
    throw std::invalid_argument("--maximumPatches " + m.Get("maximumPatches") + " must be >= 0 (0: all)");
  const double modelError = m.GetDouble("modelError");
  if (!(modelError >= 0.0) || !std::isfinite(modelError))
    throw std::invalid_argument("--modelError " + m.Get("modelError") +
                                " is not a standard deviation >= 0 (in the parameter's units; 0 = none)");

  unsigned int n = 0, h = 0, w = 0;
  bool         tiled = false;
  const auto   factor = vqvae->GetDownsamplingFactor();
  auto         maps = EncodeInput(m.Get("input"),
                          vqvae,
                          prior->GetLatentHeight() * factor,
                          prior->GetLatentWidth() * factor,
                          n,
                          h,
                          w,
                          tiled,
                          progress);
  if (maximum > 0 && n > static_cast<unsigned int>(maximum))
  {
    // Spread evenly over the patches (row by row), so that they sample the whole micrograph.
    const size_t         per = static_cast<size_t>(h) * w;
    std::vector<int32_t> kept;
    for (unsigned int i = 0; i < static_cast<unsigned int>(maximum); ++i)
    {
      const size_t k = static_cast<size_t>(i) * n / maximum;
      kept.insert(kept.end(), maps.begin() + k * per, maps.begin() + (k + 1) * per);
    }
    std::cerr << "using " << maximum << " of the " << n << " patches, spread evenly (--maximumPatches)\n";
    maps.swap(kept);
    n = static_cast<unsigned int>(maximum);
  }
  // Log-likelihood of every tile at every grid value: ll[v][tile].
  std::vector<std::vector<double>> ll(grid.size());
  for (size_t v = 0; v < grid.size(); ++v)
  {
    Prior::Condition c = others;
    c[parameter] = itk::MicrostructureTable::FormatNumber(grid[v]);
    if (v == 0)
      prior->EncodeConditions({ c }, 1); // a bad condition fails before the long part (warnings once)
    ll[v] = prior->LogLikelihood(maps.data(), n, h, w, { c });
    progress.Update(0.2 + 0.75 * (v + 1) / grid.size());
  }

  using Posterior = itk::MicrostructurePosterior;
  const bool               logScale = parameter.rfind("ln_", 0) == 0;
  const auto               format = [](double x) { return itk::MicrostructureTable::FormatNumber(x); };
  itk::MicrostructureTable table;
  for (const char * col : { "image", "value", "log_likelihood", "posterior" })
    table.AddColumn(col);
  if (logScale)
    table.AddColumn("exp_value");
  itk::MicrostructureTable summary;
  for (const char * col : { "image", "map", "mean", "lower95", "upper95", "tiles", "adjustment", "model_error" })
    summary.AddColumn(col);
  auto add = [&](const std::string & label, const itk::PosteriorSummary & s, size_t tiles, double error) {
    for (size_t v = 0; v < grid.size(); ++v)
    {
      std::vector<std::string> row{ label, format(grid[v]), format(s.LogLikelihood[v]), format(s.Posterior[v]) };
      if (logScale)
        row.push_back(format(std::exp(grid[v])));
      table.AddRow(row);
    }
    summary.AddRow({ label,
                     format(s.MaximumAPosteriori),
                     format(s.Mean),
                     format(s.Lower95),
                     format(s.Upper95),
                     std::to_string(tiles),
                     format(s.Adjustment),
                     format(error) });
  };
  for (unsigned int k = 0; k < n && !m.GetBool("pooledOnly"); ++k)
  {
    std::vector<double> logs(grid.size());
    for (size_t v = 0; v < grid.size(); ++v)
      logs[v] = ll[v][k];
    add(std::to_string(k), Posterior::Single(grid, logs), 1, 0.0);
  }
  const auto all = Posterior::WithModelError(grid, Posterior::Pool(grid, ll), modelError);
  if (n > 1 || m.GetBool("pooledOnly"))
    add("all", all, n, modelError);
  table.Write(output);
  if (!m.Get("outputSummary").empty())
    summary.Write(m.Get("outputSummary"));
  progress.End();
  std::cerr << "posterior of " << parameter << " from " << n << (tiled ? " patches of the micrograph, " : " ")
            << "index map(s) of " << w << " x " << h;
  if (n > 1)
    std::cerr << " (pooled; the patches disagree " << all.Adjustment
              << " x as much as independent patches of the model would"
              << (all.Adjustment > 1 ? ", so the log-likelihood is divided by that" : "") << ")";
  std::cerr << ": MAP " << all.MaximumAPosteriori << ", mean " << all.Mean << ", 95 % interval " << all.Lower95
            << " .. " << all.Upper95;
  if (logScale)
    std::cerr << " (exp: " << std::exp(all.MaximumAPosteriori) << ", " << std::exp(all.Lower95) << " .. "
              << std::exp(all.Upper95) << ")";
  std::cerr << "\n";
  if (all.PeakAtEdge)
    std::cerr << "warning: the posterior peaks at the grid's edge (" << all.MaximumAPosteriori
              << "): widen --grid; the interval is cut by the grid\n";
  m.SetReturn("maximumAPosteriori", format(all.MaximumAPosteriori));
  m.SetReturn("posteriorMean", format(all.Mean));
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Infer Process Condition",
           "Microstructure",
           "Which process condition most likely produced this microstructure? For a micrograph (any size; cut into "
           "patches of the prior's training size) or a stack of patches: the posterior over one continuous process "
           "parameter on a grid (uniform prior), from the exact likelihood of each patch's VQ-VAE index map under the "
           "conditional PixelCNN prior; per patch and pooled over the patches. The pooled posterior is widened by how "
           "much more the patches disagree than the model says (a sandwich-adjusted composite likelihood) and, with "
           "--modelError, by the model's own error at conditions it was not trained on (cross-validation measures "
           "it). Beyond Noguchi & Inoue (2021), who generate only.");
  m.Group("Input/Output");
  m.AddPositional("image", "input", 0, "input", "Micrograph or patch stack", "8-bit, at the VQ-VAE's pixel size.");
  m.AddPositional(
    "table",
    "output",
    1,
    "output",
    "Posterior (CSV)",
    "Long table: image (patch number or all), value, log_likelihood (pooled: the sum over the patches), posterior "
    "(and exp_value for ln_ parameters).");
  m.Add("table",
        "outputSummary",
        "outputSummary",
        "",
        "Summary (CSV)",
        "Per patch and pooled: maximum a posteriori, posterior mean, central 95 % credible interval, patches, the "
        "sandwich adjustment (the divisor of the pooled log-likelihood, >= 1) and the model error used.")
    .channel = "output";
  m.Add("file", "vqvae", "vqvae", "", "VQ-VAE model", "Written by MicrostructureTrainVQVAE.");
  m.Add("file", "prior", "prior", "", "Prior model", "Written by MicrostructureTrainPrior.");
  m.Group("Parameter");
  m.Add("string",
        "parameter",
        "parameter",
        "",
        "Parameter",
        "The continuous process parameter, e.g. ln_cooling_rate_C_per_s.");
  m.Add("string",
        "grid",
        "grid",
        "",
        "Grid",
        "min:max:count; default: the trained range widened by 25 % each side, 61 points.");
  m.Add("string-vector", "condition", "condition", "", "Other parameters", "name=value for every other parameter.");
  m.Add("double",
        "modelError",
        "modelError",
        "0",
        "Model error (sd)",
        "Standard deviation, in the parameter's units, of the model's own error at conditions it was not trained "
        "on, which no micrograph can show: the pooled posterior is convolved with it. Cross-validation measures it "
        "(MicrostructureStudy --crossValidate: the inverse's model error in cross_validation.json). 0: none.");
  m.Add("integer",
        "maximumPatches",
        "maximumPatches",
        "0",
        "Maximum patches",
        "At most this many patches (spread evenly over the micrograph or stack) enter the posterior: the time grows "
        "with patches x grid values. 0: all.");
  m.Add("boolean", "pooledOnly", "pooledOnly", "false", "Pooled only", "Only the posterior pooled over all patches.");
  m.Group("Compute");
  sm::cli::AddDeviceOption(m);
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("double", "maximumAPosteriori", "maximumAPosteriori", "", "MAP value", "Pooled.").channel = "output";
  m.Add("double", "posteriorMean", "posteriorMean", "", "Posterior mean", "Pooled.").channel = "output";
  return sm::cli::Run(m, argc, argv, Body);
}
