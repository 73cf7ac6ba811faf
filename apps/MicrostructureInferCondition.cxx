/*=========================================================================
 *  MicrostructureInferCondition (`infer`): the inverse direction. For a
 *  micrograph or a stack of patches, the posterior over one continuous
 *  process parameter on a grid (uniform prior), from the exact likelihood of
 *  the VQ-VAE index maps under the conditional prior.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureTable.h"
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

/** Index maps of the input (2D micrograph: one map; 3D stack: one per patch). */
std::vector<int32_t>
EncodeInput(const std::string & path, itk::VQVAEModel * vqvae, unsigned int & n, unsigned int & h, unsigned int & w,
            sm::cli::Progress & progress)
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
  if (sm::cli::IsImageStack(path))
  {
    using ImageType = itk::Image<unsigned char, 3>;
    using MapType = itk::Image<unsigned short, 3>;
    return run(itk::ReadScalarImage<ImageType>(path), itk::VQEncodeImageFilter<ImageType, MapType>::New());
  }
  using ImageType = itk::Image<unsigned char, 2>;
  using MapType = itk::Image<unsigned short, 2>;
  return run(itk::ReadScalarImage<ImageType>(path), itk::VQEncodeImageFilter<ImageType, MapType>::New());
}

/** exp(l - max) normalised. */
std::vector<double>
Normalise(const std::vector<double> & logs)
{
  const double        top = *std::max_element(logs.begin(), logs.end());
  std::vector<double> p(logs.size());
  double              sum = 0;
  for (size_t i = 0; i < logs.size(); ++i)
    sum += (p[i] = std::exp(logs[i] - top));
  for (auto & v : p)
    v /= sum;
  return p;
}

struct Summary
{
  double map, mean, lower, upper;
};

/** Maximum a posteriori, mean, and the central 95 % credible interval. */
Summary
Summarise(const std::vector<double> & grid, const std::vector<double> & p)
{
  Summary s{};
  s.map = grid[std::max_element(p.begin(), p.end()) - p.begin()];
  s.mean = std::inner_product(grid.begin(), grid.end(), p.begin(), 0.0);
  // Quantiles of the piecewise-constant density whose cell i, centred on grid point i, holds
  // p[i]; clamped to the grid's range.
  const double step = grid.size() > 1 ? grid[1] - grid[0] : 1.0;
  auto         quantile = [&](double q) {
    double cumulative = 0;
    for (size_t i = 0; i < p.size(); ++i)
    {
      if (cumulative + p[i] >= q)
      {
        const double t = p[i] > 0 ? (q - cumulative) / p[i] : 0.5;
        return std::clamp(grid[i] + (t - 0.5) * step, grid.front(), grid.back());
      }
      cumulative += p[i];
    }
    return grid.back();
  };
  s.lower = quantile(0.025);
  s.upper = quantile(0.975);
  return s;
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

  const std::string    parameter = m.Get("parameter");
  const Prior::ConditionSpec * spec = nullptr;
  for (const auto & s : prior->GetConditionSchema())
    if (s.Name == parameter)
      spec = &s;
  if (!spec || spec->Categorical)
  {
    std::string names;
    for (const auto & s : prior->GetConditionSchema())
      names += (names.empty() ? "" : ", ") + s.Name + (s.Categorical ? " (categorical)" : "");
    throw std::invalid_argument("--parameter " + parameter + " is not a continuous process parameter of the prior (it has: " +
                                names + ")");
  }
  // Grid: min:max:count, default the trained range widened by a quarter on each side, 61 points.
  double lo = spec->Minimum - 0.25 * (spec->Maximum - spec->Minimum);
  double hi = spec->Maximum + 0.25 * (spec->Maximum - spec->Minimum);
  int    count = 61;
  if (!m.Get("grid").empty())
  {
    double a = 0, b = 0;
    int    c = 0;
    char   s1 = 0, s2 = 0;
    std::istringstream g(m.Get("grid"));
    if (!(g >> a >> s1 >> b >> s2 >> c) || s1 != ':' || s2 != ':' || !(b > a) || c < 2)
      throw std::invalid_argument("--grid " + m.Get("grid") + " is not min:max:count with max > min, count >= 2");
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

  unsigned int n = 0, h = 0, w = 0;
  const auto   maps = EncodeInput(m.Get("input"), vqvae, n, h, w, progress);
  // Log-likelihood of every map at every grid value: ll[v][map].
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

  const bool          logScale = parameter.rfind("ln_", 0) == 0;
  itk::MicrostructureTable table;
  for (const char * col : { "image", "value", "log_likelihood", "posterior" })
    table.AddColumn(col);
  if (logScale)
    table.AddColumn("exp_value");
  itk::MicrostructureTable summary;
  for (const char * col : { "image", "map", "mean", "lower95", "upper95" })
    summary.AddColumn(col);
  auto add = [&](const std::string & label, const std::vector<double> & logs) {
    const auto p = Normalise(logs);
    for (size_t v = 0; v < grid.size(); ++v)
    {
      std::vector<std::string> row{ label, itk::MicrostructureTable::FormatNumber(grid[v]),
                                    itk::MicrostructureTable::FormatNumber(logs[v]),
                                    itk::MicrostructureTable::FormatNumber(p[v]) };
      if (logScale)
        row.push_back(itk::MicrostructureTable::FormatNumber(std::exp(grid[v])));
      table.AddRow(row);
    }
    const auto s = Summarise(grid, p);
    summary.AddRow({ label, itk::MicrostructureTable::FormatNumber(s.map), itk::MicrostructureTable::FormatNumber(s.mean),
                     itk::MicrostructureTable::FormatNumber(s.lower), itk::MicrostructureTable::FormatNumber(s.upper) });
    return s;
  };
  std::vector<double> pooled(grid.size(), 0.0);
  for (unsigned int k = 0; k < n; ++k)
  {
    std::vector<double> logs(grid.size());
    for (size_t v = 0; v < grid.size(); ++v)
    {
      logs[v] = ll[v][k];
      pooled[v] += ll[v][k];
    }
    if (!m.GetBool("pooledOnly"))
      add(std::to_string(k), logs);
  }
  const auto all = n > 1 || m.GetBool("pooledOnly") ? add("all", pooled) : Summarise(grid, Normalise(pooled));
  table.Write(output);
  if (!m.Get("outputSummary").empty())
    summary.Write(m.Get("outputSummary"));
  progress.End();
  std::cerr << "posterior of " << parameter << " from " << n << " index map(s) of " << w << " x " << h
            << (n > 1 ? " (pooled: patches independent given the condition)" : "") << ": MAP " << all.map << ", mean "
            << all.mean << ", 95 % interval " << all.lower << " .. " << all.upper;
  if (logScale)
    std::cerr << " (exp: " << std::exp(all.map) << ", " << std::exp(all.lower) << " .. " << std::exp(all.upper) << ")";
  std::cerr << "\n";
  m.SetReturn("maximumAPosteriori", itk::MicrostructureTable::FormatNumber(all.map));
  m.SetReturn("posteriorMean", itk::MicrostructureTable::FormatNumber(all.mean));
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Infer Process Condition",
           "Microstructure",
           "Which process condition most likely produced this microstructure? For a micrograph (any size) or a stack "
           "of patches: the posterior over one continuous process parameter on a grid (uniform prior), from the exact "
           "likelihood of its VQ-VAE index maps under the conditional PixelCNN prior; per patch and pooled over all "
           "patches (independent given the condition). Beyond Noguchi & Inoue (2021), who generate only.");
  m.Group("Input/Output");
  m.AddPositional("image", "input", 0, "input", "Micrograph or patch stack", "8-bit, at the VQ-VAE's pixel size.");
  m.AddPositional("table", "output", 1, "output", "Posterior (CSV)",
                  "Long table: image, value, log_likelihood, posterior (and exp_value for ln_ parameters).");
  m.Add("table", "outputSummary", "outputSummary", "", "Summary (CSV)",
        "Per image and pooled: maximum a posteriori, posterior mean, central 95 % credible interval.")
    .channel = "output";
  m.Add("file", "vqvae", "vqvae", "", "VQ-VAE model", "Written by MicrostructureTrainVQVAE.");
  m.Add("file", "prior", "prior", "", "Prior model", "Written by MicrostructureTrainPrior.");
  m.Group("Parameter");
  m.Add("string", "parameter", "parameter", "", "Parameter", "The continuous process parameter, e.g. ln_cooling_rate_C_per_s.");
  m.Add("string", "grid", "grid", "", "Grid", "min:max:count; default: the trained range widened by 25 % each side, 61 points.");
  m.Add("string-vector", "condition", "condition", "", "Other parameters", "name=value for every other parameter.");
  m.Add("boolean", "pooledOnly", "pooledOnly", "false", "Pooled only", "Only the posterior pooled over all patches.");
  m.Group("Compute");
  m.Add("string", "device", "device", "auto", "Device", "auto (CUDA when present), cpu or cuda:N.");
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("double", "maximumAPosteriori", "maximumAPosteriori", "", "MAP value", "Pooled.").channel = "output";
  m.Add("double", "posteriorMean", "posteriorMean", "", "Posterior mean", "Pooled.").channel = "output";
  return sm::cli::Run(m, argc, argv, Body);
}
