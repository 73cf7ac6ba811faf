/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureSummary_h
#define itkMicrostructureSummary_h

#include "StochasticMicrostructureExport.h"
#include "itkMicrostructureTable.h"

#include <map>
#include <string>
#include <vector>

namespace itk
{
/** Ensemble statistics of one metric over a set of patches or images.
 * Non-finite values (e.g. an infinite mean free path of a patch with no
 * intercept) are left out and counted in `excluded`. The variance is the
 * sample variance (n - 1); the 95 % confidence interval of the mean uses
 * Student's t with n - 1 degrees of freedom (NaN when n < 2). */
struct MetricSummary
{
  std::string metric;
  std::size_t n{ 0 };
  std::size_t excluded{ 0 };
  double      mean{ 0.0 };
  double      variance{ 0.0 };
  double      standardDeviation{ 0.0 };
  double      ci95Low{ 0.0 };
  double      ci95High{ 0.0 };
  double      minimum{ 0.0 };
  double      maximum{ 0.0 };
};

/** The metrics of one group (e.g. one cooling rate). */
struct GroupSummary
{
  std::string                group; // the grouping column's value, or "all"
  std::size_t                count{ 0 };
  std::vector<MetricSummary> metrics;
};

/** \class MicrostructureSummary
 * \brief Per-group mean, variance and 95 % CI of measurement columns, and
 * their JSON form (the `measure` CLI's summary; the paper's Tables I and II).
 *
 * \ingroup StochasticMicrostructure
 */
class StochasticMicrostructure_EXPORT MicrostructureSummary
{
public:
  static MetricSummary
  SummarizeValues(const std::string & metric, const std::vector<double> & values);

  /** Groups are ordered numerically when every value of the grouping column
   * is a number, lexicographically otherwise. An empty groupColumn gives one
   * group named "all". Throws when a metric column holds text. */
  static std::vector<GroupSummary>
  Summarize(const MicrostructureTable & table, const std::vector<std::string> & metricColumns,
            const std::string & groupColumn = "");

  /** JSON document: {"group_by": ..., <metadata>, "groups": [{"group": ..,
   * "count": .., "metrics": {"name": {"n":..,"mean":..,...}}}]}. */
  /** Two-sample Kolmogorov-Smirnov statistic: the largest distance between the
   * empirical distribution functions of a and b (0..1). NaNs are ignored; throws
   * itk::ExceptionObject when either sample is empty. */
  static double
  KolmogorovSmirnovStatistic(std::vector<double> a, std::vector<double> b);
  /** The same between weighted samples (value a[i] with weight wa[i]): the largest distance between
   * the weighted empirical distribution functions. Values that are NaN or whose weight is not
   * positive are left out; throws itk::ExceptionObject when a sample has none left or a weight
   * list's length differs from its values'. Unit weights give KolmogorovSmirnovStatistic. */
  static double
  WeightedKolmogorovSmirnovStatistic(const std::vector<double> & a, const std::vector<double> & wa,
                                     const std::vector<double> & b, const std::vector<double> & wb);
  /** Asymptotic p-value of a two-sample KS statistic d for samples of n and m
   * values (Kolmogorov distribution with Stephens' correction). */
  static double
  KolmogorovSmirnovPValue(double d, std::size_t n, std::size_t m);
  /** First Wasserstein (earth mover's) distance between the empirical
   * distributions of a and b, in the units of the values. NaNs are ignored;
   * throws itk::ExceptionObject when either sample is empty. */
  static double
  WassersteinDistance(std::vector<double> a, std::vector<double> b);

  /** The groups as one JSON object: "group_by" (groupColumn, or null when it is empty), each
   * metadata key with its value, and "groups": per group its value, its count and per metric n,
   * excluded, mean, variance, sd, ci95_low, ci95_high, min and max (null where not finite).
   * Strings are written by ToJsonString() (itkMicrostructureText.h), so the text is valid JSON
   * whatever the names and values hold. */
  static std::string
  ToJSON(const std::vector<GroupSummary> & groups, const std::string & groupColumn,
         const std::map<std::string, std::string> & metadata = {});
};
} // end namespace itk

#endif
