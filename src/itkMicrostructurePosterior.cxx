/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructurePosterior.h"
#include "itkMacro.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace itk
{
namespace
{
void
CheckGrid(const std::vector<double> & grid)
{
  if (grid.size() < 3)
  {
    itkGenericExceptionMacro(<< "the posterior's grid has " << grid.size() << " values: give at least 3");
  }
  const double step = grid[1] - grid[0];
  for (size_t i = 1; i < grid.size(); ++i)
  {
    const double d = grid[i] - grid[i - 1];
    if (!(d > 0.0) || std::abs(d - step) > 1e-6 * std::max(1.0, std::abs(step)))
    {
      itkGenericExceptionMacro(<< "the posterior's grid must be equally spaced and increasing (values " << grid[i - 1]
                               << " and " << grid[i] << " break it)");
    }
  }
}

/** Maximum a posteriori, mean and the central 95 % interval of a normalised p on the grid. Quantiles
 * of the piecewise-constant density whose cell i, centred on grid point i, holds p[i]; clamped to
 * the grid's range. */
void
Describe(const std::vector<double> & grid, PosteriorSummary & s)
{
  const auto & p = s.Posterior;
  s.MaximumAPosteriori = grid[std::max_element(p.begin(), p.end()) - p.begin()];
  s.Mean = std::inner_product(grid.begin(), grid.end(), p.begin(), 0.0);
  const double step = grid[1] - grid[0];
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
  s.Lower95 = quantile(0.025);
  s.Upper95 = quantile(0.975);
}
} // namespace

std::vector<double>
MicrostructurePosterior::Normalise(const std::vector<double> & logs)
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

PosteriorSummary
MicrostructurePosterior::Single(const std::vector<double> & grid, const std::vector<double> & logLikelihood)
{
  CheckGrid(grid);
  if (logLikelihood.size() != grid.size())
  {
    itkGenericExceptionMacro(<< "a log-likelihood curve has " << logLikelihood.size() << " values for a grid of "
                             << grid.size());
  }
  for (double l : logLikelihood)
    if (!std::isfinite(l))
    {
      itkGenericExceptionMacro(<< "a log-likelihood is not finite (" << l << ")");
    }
  PosteriorSummary s;
  s.LogLikelihood = logLikelihood;
  s.Posterior = Normalise(logLikelihood);
  Describe(grid, s);
  return s;
}

PosteriorSummary
MicrostructurePosterior::Pool(const std::vector<double> & grid, const std::vector<std::vector<double>> & logLikelihoods)
{
  CheckGrid(grid);
  if (logLikelihoods.size() != grid.size())
  {
    itkGenericExceptionMacro(<< "the tiles' log-likelihoods have " << logLikelihoods.size()
                             << " grid rows for a grid of " << grid.size());
  }
  const size_t n = logLikelihoods.front().size();
  if (n == 0)
  {
    itkGenericExceptionMacro(<< "no tiles to pool");
  }
  std::vector<double> composite(grid.size(), 0.0);
  for (size_t v = 0; v < grid.size(); ++v)
  {
    if (logLikelihoods[v].size() != n)
    {
      itkGenericExceptionMacro(<< "grid row " << v << " has " << logLikelihoods[v].size() << " tiles, row 0 has " << n);
    }
    for (double l : logLikelihoods[v])
    {
      if (!std::isfinite(l))
      {
        itkGenericExceptionMacro(<< "a tile's log-likelihood is not finite (" << l << ") at grid value " << grid[v]);
      }
      composite[v] += l;
    }
  }
  const size_t i = std::max_element(composite.begin(), composite.end()) - composite.begin();
  double       adjustment = 1.0;
  const bool   edge = i == 0 || i + 1 == grid.size();
  if (!edge && n >= 2)
  {
    // The parabola through (i - 1, i, i + 1): curvature and the peak's offset from grid[i].
    const double step = grid[1] - grid[0];
    const double second = (composite[i - 1] - 2.0 * composite[i] + composite[i + 1]) / (step * step);
    const double H = -second;
    if (H > 0.0)
    {
      const double offset = (composite[i - 1] - composite[i + 1]) / (2.0 * step * second); // |offset| <= step / 2
      double       J = 0.0;
      for (size_t k = 0; k < n; ++k)
      {
        const double a = logLikelihoods[i - 1][k], b = logLikelihoods[i][k], c = logLikelihoods[i + 1][k];
        const double score = (c - a) / (2.0 * step) + (a - 2.0 * b + c) / (step * step) * offset;
        J += score * score;
      }
      J *= static_cast<double>(n) / static_cast<double>(n - 1);
      adjustment = std::max(1.0, J / H);
    }
  }
  PosteriorSummary s;
  s.Adjustment = adjustment;
  s.PeakAtEdge = edge;
  s.LogLikelihood = composite;
  for (auto & l : composite)
    l /= adjustment;
  s.Posterior = Normalise(composite);
  Describe(grid, s);
  return s;
}

PosteriorSummary
MicrostructurePosterior::WithModelError(const std::vector<double> & grid, const PosteriorSummary & posterior, double sd)
{
  CheckGrid(grid);
  if (!(sd >= 0.0) || !std::isfinite(sd))
  {
    itkGenericExceptionMacro(<< "the model error must be a standard deviation >= 0, it is " << sd);
  }
  if (posterior.Posterior.size() != grid.size())
  {
    itkGenericExceptionMacro(<< "the posterior has " << posterior.Posterior.size() << " values for a grid of "
                             << grid.size());
  }
  PosteriorSummary s = posterior;
  if (sd == 0.0)
    return s;
  std::vector<double> p(grid.size(), 0.0);
  double              sum = 0.0;
  for (size_t v = 0; v < grid.size(); ++v)
  {
    for (size_t u = 0; u < grid.size(); ++u)
    {
      const double z = (grid[v] - grid[u]) / sd;
      p[v] += posterior.Posterior[u] * std::exp(-0.5 * z * z);
    }
    sum += p[v];
  }
  for (auto & v : p)
    v /= sum;
  s.Posterior = p;
  Describe(grid, s);
  return s;
}
} // namespace itk
