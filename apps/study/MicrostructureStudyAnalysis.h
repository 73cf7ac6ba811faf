/*=========================================================================
 *  The comparison and report of MicrostructureStudy: real (training,
 *  held-out, unseen), reconstructed and generated patches per condition.
 *=========================================================================*/
#ifndef MicrostructureStudyAnalysis_h
#define MicrostructureStudyAnalysis_h

#include "itkMicrostructureTable.h"

#include <nlohmann/json.hpp>

#include "itkImage.h"

#include <array>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sm
{
namespace study
{

/** One process condition: its values of the condition columns. */
struct Condition
{
  std::map<std::string, std::string> Values; ///< column -> value text
  std::string                        Key;    ///< "col=value;col2=value2"
  std::string                        Slug;   ///< file-name safe form of Key
  std::string                        Label;  ///< for figures, e.g. "3 °C/s"
};

/** v with `digits` decimals, or `missing` when v is not finite. */
std::string
FormatFixed(double v, int digits, const std::string & missing);

/** A file-name safe form of a condition key (letters, digits, '.', '-'; '_' for the rest). */
std::string
SlugOf(const std::string & text);

/** The distinct conditions of a patch table, sorted (numerically where possible). */
std::vector<Condition>
DistinctConditions(const itk::MicrostructureTable & table, const std::vector<std::string> & columns);

/** True when row `row` of the table has the condition's values. */
bool
RowHasCondition(const itk::MicrostructureTable & table, std::size_t row, const Condition & c);

/** Radial S2 curves of a MicrostructureMeasure correlation table over the table rows (patches) in
 * `rows` (all when empty): {r (um), mean, 5 % quantile, 95 % quantile} per distance; empty when the
 * file does not exist. */
std::array<std::vector<double>, 4>
S2Band(const std::string & path, const std::set<std::size_t> & rows);

/** Root mean square of the difference of two S2Band mean curves at the distances both have (NaN
 * when they share none). */
double
CurveRms(const std::array<std::vector<double>, 4> & a, const std::array<std::vector<double>, 4> & b);

/** Chord lengths of the measured phase (foreground; horizontal and vertical chords pooled, edge-cut
 * chords left out) in a MicrostructureMeasure --outputChords table, over its rows' patches in
 * `rows` (all when empty): per patch the fraction of its chords longer than each length of
 * `lengths` (um), then {mean, 5 % quantile, 95 % quantile} over the patches per length. Patches
 * without a chord are left out; empty when no patch has one. */
std::array<std::vector<double>, 3>
ChordSurvivalBand(const itk::MicrostructureTable & chords, const std::set<std::size_t> & rows,
                  const std::vector<double> & lengths);

/** An 8-bit stack, or nullptr when the file does not exist. */
itk::Image<unsigned char, 3>::Pointer
ReadStack(const std::string & path);

/** True when the condition lies between two conditions of `pool` in one continuous parameter of
 * `data` (log_conditions or conditions), all its other parameters equal: a held-out fold that tests
 * interpolation. False: extrapolation. */
bool
IsInterior(const Condition & c, const std::vector<Condition> & pool, const nlohmann::json & data);

/** The condition as the prior's parameters ("ln_col=..." for log-scaled columns), comma-separated. */
std::string
PriorCondition(const Condition & c, const nlohmann::json & data);

/** Reads the study's tables and models in `out`, writes results.json, results.md, comparison.csv and the
 * report folder (index.html, figures when an X display is there). */
void
Analyse(const std::string & out, const nlohmann::json & config, const std::vector<Condition> & conditions,
        const std::vector<std::string> & excluded, const std::vector<std::pair<std::string, double>> & timings);

/** results.md: a short Markdown summary of results.json for users, made from the same object so its numbers
 * are results.json's, rounded (V_f in % with 2 decimals, d_f in um with 3, ratios with 2, KS with 3): the
 * settings from `config`, the main figures per condition and set, and the held-out targets (where the study
 * has a held-out condition), met or not as CrossValidationTargets says. */
std::string
ResultsMarkdown(const nlohmann::json & results, const nlohmann::json & config);

/** The report folder: index.html (offline), figures (VTK, when an X display is there). */
void
WriteReport(const std::string & out, const nlohmann::json & config, const std::vector<Condition> & conditions,
            const nlohmann::json & results, const itk::MicrostructureTable & comparison);

/** A target of the cross-validation: a key of results.json's holdout_targets and when it is met. */
struct CrossValidationTarget
{
  const char *                Key;
  const char *                Label;
  std::function<bool(double)> Met;
};
/** |dV_f| <= 1 pp, |dd_f| <= 5 %, V_f variance ratio 0.8-1.25, V_f KS <= 0.1, d_f variance ratio
 * 0.67-1.5, S2 RMS <= 0.01. */
const std::vector<CrossValidationTarget> &
CrossValidationTargets();

/** One fold and seed of a cross-validation from its study's results.json: the targets, their
 * count met, and the interpolation baseline's figures (NaN where there is none). */
nlohmann::json
CrossValidationRow(const nlohmann::json & results, const std::string & fold, int seed, bool interior);

/** Per kind (interpolation, extrapolation): per target the mean, the worst and how many fold-seeds
 * meet it; how many meet all; the mean |dV_f| and |log V_f variance ratio| of the model and of the
 * interpolation baseline. */
nlohmann::json
SummariseCrossValidation(const std::vector<nlohmann::json> & rows);

/** cross_validation.json ({"folds": rows, "summary": ...}), cross_validation.csv and, with VTK's
 * report library, cross_validation.html in `out`; the summary is also printed. */
void
WriteCrossValidation(const std::string & out, const nlohmann::json & cv);

} // namespace study
} // namespace sm

#endif
