/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the composition
 * level of itk::PixelCNNPriorModel (its class description in
 * itkPixelCNNPriorModel.h says what it is and why): each map's L standardised
 * compositions u_l = (mean over positions of v_{k l} - mean_l) / sd_l, and the
 * top level p(u | c) = N(m(c), S(c) R S(c)), S = diag(s), whose m_l and log s_l
 * are lines in the encoded condition c (D values):
 *   m_l(c) = t_l0 + sum_j c_j t_lj,  coefficients L x (1 + D), row by row.
 * The network given the level reads u and the composition budget
 * (itkPixelCNNNetwork.h) from the last L columns of its condition input.
 * Numbers as the model file stores them: v, m and log s coefficients in float,
 * the standardisation and R in double.
 *
 * Errors: a problem of the arguments throws itk::ExceptionObject whose
 * description is the message alone (the model throws it again as its own); a
 * problem of a file read, "PixelCNNPriorModel: <path>: ...".
 *=========================================================================*/
#ifndef itkCompositionLevel_h
#define itkCompositionLevel_h

#include "itkModelFileFormat.h"
#include "itkPixelCNNPriorModel.h"

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace itk
{
namespace composition
{

/** The most values per map. */
constexpr unsigned int MaximumCount = 8;

/** The lower Cholesky factor (L x L, row-major) of a symmetric positive definite matrix a (L x L);
 * empty when it is not positive definite. */
std::vector<double>
CholeskyLower(const std::vector<double> & a, unsigned int L);

/** A standard normal number from two 53-bit uniforms of the engine (Box-Muller; this project's own
 * transform, so that the numbers are the same on every platform). */
double
StandardNormal(std::mt19937_64 & engine);

class Level
{
public:
  /** L, 0 without a level. */
  unsigned int
  GetCount() const
  {
    return m_Count;
  }
  /** v, K x L, row-major (a code's L values together). */
  const std::vector<float> &
  GetCodeValues() const
  {
    return m_CodeValues;
  }
  /** The standardisation of u over the training maps: L means, L standard deviations (> 0). */
  const std::vector<double> &
  GetMean() const
  {
    return m_Mean;
  }
  const std::vector<double> &
  GetStdDev() const
  {
    return m_StdDev;
  }
  /** No level. */
  void
  Clear();

  /** Throws unless count is 0 without code values, or 1..MaximumCount with K x count finite code
   * values, a finite ridge >= 0 and at least one map (indices given, n, h, w > 0). */
  static void
  CheckArguments(const std::vector<float> & codeValues, unsigned int count, unsigned int K, const int32_t * indices,
                 unsigned int n, unsigned int h, unsigned int w, double ridge);

  /** Fits the level (CheckArguments' count > 0) to n maps of `per` indices (each in 0..K-1) and their
   * encoded conditions (n x D): the standardisation of u over all maps; per distinct condition, the
   * mean and log sd of each standardised u_l; m and log s by least squares over the conditions,
   * weighted by their numbers of maps, with ridge x n added to the normal equations' slope diagonal;
   * R the within-condition correlation pooled over the conditions. On failure (a u_l that does not
   * vary over the maps, a condition with fewer than 2 maps or a u_l that does not vary within it,
   * slopes the conditions do not determine, R not positive definite) the level is cleared and it
   * throws. */
  void
  Fit(const std::vector<float> & codeValues, unsigned int count, const int32_t * indices, unsigned int n, size_t per,
      const std::vector<float> & features, unsigned int D, double ridge);

  /** The standardised compositions of n maps of `per` indices, n x L. */
  std::vector<double>
  Compositions(const int32_t * indices, unsigned int n, size_t per) const;

  /** The top level at one encoded condition (D values): m(c), s(c) and R. */
  PixelCNNPriorModel::CompositionDistribution
  Prior(const std::vector<float> & feature, unsigned int D) const;

  /** Adds to each of n maps' log-likelihoods the log density of its standardised compositions u
   * (n x L) under the top level at its encoded condition (features: n x D). */
  void
  AddLogDensity(const std::vector<double> & u, const std::vector<float> & features, unsigned int n, unsigned int D,
                std::vector<double> & logLikelihood) const;

  /** u drawn from the top level for each of n maps at its encoded condition (features: n x D), from
   * an engine of its own (std::mt19937_64 of seed ^ 0xbb67ae8584caa73b, not the stream of the
   * sampler's uniforms of the same seed; L standard normals per map, map by map), and repeated for
   * the map's `candidates` rows: (n x candidates) x L, map i's candidate j in row i candidates + j. */
  std::vector<double>
  Draw(const std::vector<float> & features, unsigned int n, unsigned int D, unsigned int candidates,
       uint64_t seed) const;

  /** Of each of n maps' `candidates` rows, the one whose own compositions (own, rows as drawn) lie
   * nearest the drawn ones (Euclidean; the first on a tie): n row numbers. */
  std::vector<size_t>
  Nearest(const std::vector<double> & own, const std::vector<double> & drawn, unsigned int n,
          unsigned int candidates) const;

  /** Appends the level's header lines (composition_count, _code_values, _standardisation,
   * _prior_mean, _prior_log_sd, _correlation, and composition_budget = 1: the network reads the
   * budget) to a model file's header; nothing without a level. */
  void
  AppendHeader(std::vector<std::pair<std::string, std::string>> & header) const;
  /** The level of a model file read (none when it has no composition_count line, as the paper's
   * prior and files written before the level existed) for a codebook of K codes and conditions
   * encoded in D values. Throws for a count over MaximumCount, a composition_budget line other than
   * "1" or without a level, and for lines missing or of the wrong length, values that are not
   * finite, a standard deviation <= 0 or a correlation that is not positive definite (the file is
   * damaged); and for a level without the composition_budget line (written before session 23, its
   * network trained without the budget: retrain). */
  static Level
  FromHeader(const modelfile::Contents & contents, unsigned int K, size_t D);

private:
  unsigned int        m_Count{ 0 };
  std::vector<float>  m_CodeValues;
  std::vector<double> m_Mean;
  std::vector<double> m_StdDev;
  std::vector<float>  m_PriorMean;      ///< t of m(c), L x (1 + D)
  std::vector<float>  m_PriorLogStdDev; ///< t of log s(c), L x (1 + D)
  std::vector<double> m_Correlation;    ///< R, L x L
};

} // namespace composition
} // namespace itk

#endif
