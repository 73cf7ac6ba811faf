/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructurePosterior_h
#define itkMicrostructurePosterior_h

#include "StochasticMicrostructureExport.h"

#include <cstddef>
#include <vector>

namespace itk
{
/** A posterior on an equally spaced grid of one parameter's values, and its summary. */
struct PosteriorSummary
{
  std::vector<double> LogLikelihood; // one per grid value: the curve, or the tiles' sum (Pool)
  std::vector<double> Posterior;     // normalised, one per grid value
  double              MaximumAPosteriori{ 0.0 };
  double              Mean{ 0.0 };
  double              Lower95{ 0.0 }; // central 95 % credible interval
  double              Upper95{ 0.0 };
  /** The divisor of the composite log-likelihood (>= 1; 1 = the tiles taken as independent). */
  double Adjustment{ 1.0 };
  /** Whether the composite log-likelihood peaks at the grid's first or last value (no adjustment then). */
  bool PeakAtEdge{ false };
};

/** \class MicrostructurePosterior
 * \brief The posterior over a process parameter from the log-likelihood curves of many tiles of a
 * micrograph (or patches of a stack), pooled so that it accounts for how the tiles depend on each
 * other and how much more they vary than the model says.
 *
 * Summing the tiles' log-likelihoods, L(v) = sum_k l_k(v), treats the tiles as independent given
 * the condition and as drawn from the model. Neither holds: neighbouring tiles share the
 * micrograph's region, and a model fitted at other conditions misses how tiles vary at this one.
 * The sum is then a composite likelihood, and its curvature H = -L''(v^) overstates the
 * information; the sandwich (Godambe) information H J^-1 H, with J the variance of the tiles'
 * scores s_k = l_k'(v^) summed over the tiles (J = n/(n - 1) sum_k s_k^2; the s_k sum to 0 at the
 * peak), states it (Varin, Reid & Firth 2011, Statistica Sinica 21:5). The posterior is the
 * magnitude-adjusted composite likelihood (Pauli, Racugno & Ventura 2011; Ribatet, Cooley &
 * Davison 2012), p(v) proportional to exp(L(v) / a) with a = max(1, J / H): the same peak, and the
 * curvature of the sandwich. When the tiles vary as the model says, J = H and a = 1. The floor at 1
 * never makes the posterior narrower than the independent pooling.
 *
 * Derivatives are taken from the parabola through the three grid values about the peak of L (exact
 * for quadratic curves); the grid must therefore be fine enough that L is close to quadratic over
 * two steps. Fewer than two tiles, or a peak at the grid's edge, give a = 1.
 *
 * \ingroup StochasticMicrostructure
 */
class StochasticMicrostructure_EXPORT MicrostructurePosterior
{
public:
  /** logLikelihoods[v][k]: tile k's log-likelihood at grid value v (grid equally spaced and
   * increasing, >= 3 values; every row the same length >= 1; finite values). Throws otherwise. */
  static PosteriorSummary
  Pool(const std::vector<double> & grid, const std::vector<std::vector<double>> & logLikelihoods);

  /** One curve, no pooling: the posterior proportional to exp(logLikelihood) (uniform prior). */
  static PosteriorSummary
  Single(const std::vector<double> & grid, const std::vector<double> & logLikelihood);

  /** The posterior of the true value when the model's own answer is off by an error ~ N(0, sd^2)
   * that the data cannot show (the model's interpolation error, as cross-validation measures it on
   * conditions held out of training): the posterior convolved with that normal on the grid,
   * renormalised there (mass beyond the grid's ends is left out), and described again. sd = 0
   * returns it unchanged; sd < 0 or not finite throws. */
  static PosteriorSummary
  WithModelError(const std::vector<double> & grid, const PosteriorSummary & posterior, double sd);

  /** exp(l - max l), normalised to sum 1. */
  static std::vector<double>
  Normalise(const std::vector<double> & logs);
};
} // namespace itk

#endif
