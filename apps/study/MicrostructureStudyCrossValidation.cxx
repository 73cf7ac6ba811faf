/*=========================================================================
 *  The cross-validation of MicrostructureStudy (see MicrostructureStudyAnalysis.h):
 *  one row per held-out fold and seed, their summary against the targets and
 *  the interpolation baseline, written as JSON, CSV and an offline page.
 *=========================================================================*/
#include "MicrostructureStudyAnalysis.h"
#include "itkMicrostructureIO.h"
#ifdef SM_HAVE_REPORT
#  include "itkMicrostructureReport.h"
#endif

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <sstream>

namespace sm
{
namespace study
{
using nlohmann::json;
using itk::MicrostructureTable;

namespace
{
constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

double
Number(const json & j, const char * key)
{
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : NaN;
}

std::string
Text(double v, int digits)
{
  return FormatFixed(v, digits, "");
}

/** |log ratio|: how far a variance ratio is from 1 either way (NaN for a ratio that is not > 0). */
double
AbsLog(double ratio)
{
  return ratio > 0 ? std::abs(std::log(ratio)) : NaN;
}
} // namespace

const std::vector<CrossValidationTarget> &
CrossValidationTargets()
{
  static const std::vector<CrossValidationTarget> targets = {
    { "vf_mean_difference_pp", "|dV_f| <= 1 pp", [](double v) { return std::abs(v) <= 1.0; } },
    { "df_mean_difference_percent", "|dd_f| <= 5 %", [](double v) { return std::abs(v) <= 5.0; } },
    { "vf_variance_ratio", "V_f variance ratio 0.8-1.25", [](double v) { return v >= 0.8 && v <= 1.25; } },
    { "vf_ks", "V_f KS <= 0.1", [](double v) { return v <= 0.1; } },
    { "df_variance_ratio", "d_f variance ratio 0.67-1.5", [](double v) { return v >= 0.67 && v <= 1.5; } },
    { "s2_rms", "S2 RMS <= 0.01", [](double v) { return v <= 0.01; } },
  };
  return targets;
}

json
CrossValidationRow(const json & results, const std::string & fold, int seed, bool interior)
{
  const json & t = results.contains("holdout_targets") ? results["holdout_targets"] : json::object();
  json         row = { { "fold", fold }, { "seed", seed }, { "kind", interior ? "interpolation" : "extrapolation" } };
  unsigned int met = 0;
  for (const auto & target : CrossValidationTargets())
  {
    const double v = Number(t, target.Key);
    row[target.Key] = v;
    met += std::isfinite(v) && target.Met(v);
  }
  row["df_ks"] = Number(t, "df_ks");
  row["chord_survival_max_difference"] = Number(t, "chord_survival_max_difference");
  row["particle_density_ratio"] = Number(t, "particle_density_ratio");
  row["particle_diameter_ks"] = Number(t, "particle_diameter_ks");
  row["targets_met"] = met;
  row["all_targets_met"] = met == CrossValidationTargets().size();
  // The straight line through the training conditions' own statistics (first parameter with
  // training neighbours on both sides); none for an extrapolated fold.
  const json & b = t.contains("baseline_interpolation") ? t["baseline_interpolation"] : json::object();
  row["baseline_parameter"] = b.value("parameter", "");
  // The nearest training condition's own statistics (one parameter apart), for every fold.
  const json & nb = t.contains("baseline_nearest") ? t["baseline_nearest"] : json::object();
  row["nearest_condition"] = nb.contains("between") ? nb["between"][0] : json("");
  for (const char * key :
       { "vf_mean_difference_pp", "df_mean_difference_percent", "vf_variance_ratio", "df_variance_ratio" })
  {
    row[std::string("baseline_") + key] = Number(b, key);
    row[std::string("nearest_") + key] = Number(nb, key);
  }
  // The inverse at the held-out condition: each micrograph's posterior mean against the truth.
  if (results.contains("inverse") && results["inverse"].contains("micrographs"))
  {
    row["inverse"] = results["inverse"]["micrographs"];
    row["inverse_covered"] = results["inverse"]["covered"];
    row["inverse_of"] = results["inverse"]["of"];
    double error = 0.0;
    for (const auto & m : results["inverse"]["micrographs"])
      error += m["error"].get<double>();
    row["inverse_mean_error"] = error / results["inverse"]["micrographs"].size();
  }
  if (const auto timings = results.find("timings_s"); timings != results.end())
  {
    double total = 0.0;
    for (const auto & [step, seconds] : timings->items())
      total += seconds.get<double>();
    row["seconds"] = total;
  }
  return row;
}

json
SummariseCrossValidation(const std::vector<json> & rows)
{
  json summary = json::object();
  for (const char * kind : { "interpolation", "extrapolation" })
  {
    std::vector<const json *> of;
    for (const auto & r : rows)
      if (r["kind"] == kind)
        of.push_back(&r);
    if (of.empty())
      continue;
    json         s = { { "fold_seeds", of.size() } };
    unsigned int all = 0;
    for (const auto * r : of)
      all += (*r)["all_targets_met"].get<bool>();
    s["all_targets_met"] = all;
    for (const auto & target : CrossValidationTargets())
    {
      double       sum = 0.0, worst = NaN, worstDistance = -1.0;
      unsigned int n = 0, met = 0;
      for (const auto * r : of)
      {
        const double v = Number(*r, target.Key);
        if (!std::isfinite(v))
          continue;
        sum += v;
        ++n;
        met += target.Met(v);
        // The worst: the largest |v| for a difference, the ratio farthest from 1 in log, the largest distance.
        const bool   ratio = std::string(target.Key).find("ratio") != std::string::npos;
        const double distance = ratio ? AbsLog(v) : std::abs(v);
        if (distance > worstDistance)
          worstDistance = distance, worst = v;
      }
      s[target.Key] = { { "mean", n ? sum / n : NaN }, { "worst", worst }, { "met", met }, { "of", n } };
    }
    // The model against a baseline (the straight line through the training statistics, or the nearest
    // training condition's), over the folds that have it.
    for (const auto & [prefix, name] : { std::pair<const char *, const char *>{ "baseline_", "interpolation" },
                                         std::pair<const char *, const char *>{ "nearest_", "nearest" } })
    {
      double       model[2] = { 0, 0 }, baseline[2] = { 0, 0 };
      unsigned int n = 0;
      for (const auto * r : of)
      {
        const double bv = Number(*r, (std::string(prefix) + "vf_mean_difference_pp").c_str());
        const double br = Number(*r, (std::string(prefix) + "vf_variance_ratio").c_str());
        const double mv = Number(*r, "vf_mean_difference_pp"), mr = Number(*r, "vf_variance_ratio");
        if (!std::isfinite(bv) || !std::isfinite(AbsLog(br)) || !std::isfinite(mv) || !std::isfinite(AbsLog(mr)))
          continue;
        model[0] += std::abs(mv), model[1] += AbsLog(mr), baseline[0] += std::abs(bv), baseline[1] += AbsLog(br);
        ++n;
      }
      const std::string b(name);
      if (n)
        s["against_" + b] = { { "fold_seeds", n },
                              { "model_mean_abs_vf_difference_pp", model[0] / n },
                              { b + "_mean_abs_vf_difference_pp", baseline[0] / n },
                              { "model_mean_abs_log_vf_variance_ratio", model[1] / n },
                              { b + "_mean_abs_log_vf_variance_ratio", baseline[1] / n },
                              { "beats_" + b, model[0] < baseline[0] && model[1] < baseline[1] } };
    }
    // The inverse's model error: what the posteriors' own widths do not account for of their errors
    // at held-out conditions, sqrt(max(0, mean(error^2) - mean(sd^2))), sd the interval's half width
    // / 1.96 (the fold studies run without a model error). MicrostructureInferCondition --modelError.
    double       squared = 0.0, variance = 0.0;
    unsigned int images = 0, covered = 0;
    for (const auto * r : of)
      if (r->contains("inverse"))
        for (const auto & m : (*r)["inverse"])
        {
          const double e = m["error"].get<double>();
          const double sd = (m["upper95"].get<double>() - m["lower95"].get<double>()) / (2.0 * 1.959964);
          squared += e * e;
          variance += sd * sd;
          ++images;
          covered += m["covered"].get<bool>();
        }
    if (images)
      s["inverse"] = { { "micrographs", images },
                       { "covered_without_model_error", covered },
                       { "root_mean_square_error", std::sqrt(squared / images) },
                       { "root_mean_square_sd", std::sqrt(variance / images) },
                       { "model_error", std::sqrt(std::max(0.0, (squared - variance) / images)) } };
    summary[kind] = s;
  }
  return summary;
}

void
WriteCrossValidation(const std::string & out, const json & cv)
{
  itk::WriteTextFileAtomically(out + "/cross_validation.json", cv.dump(2) + "\n");
  MicrostructureTable                            table;
  const std::vector<std::pair<std::string, int>> columns = {
    { "fold", -1 },
    { "seed", 0 },
    { "kind", -1 },
    { "vf_mean_difference_pp", 2 },
    { "baseline_vf_mean_difference_pp", 2 },
    { "nearest_condition", -1 },
    { "nearest_vf_mean_difference_pp", 2 },
    { "df_mean_difference_percent", 1 },
    { "baseline_df_mean_difference_percent", 1 },
    { "vf_variance_ratio", 2 },
    { "baseline_vf_variance_ratio", 2 },
    { "nearest_vf_variance_ratio", 2 },
    { "vf_ks", 3 },
    { "df_variance_ratio", 2 },
    { "baseline_df_variance_ratio", 2 },
    { "df_ks", 3 },
    { "s2_rms", 4 },
    { "chord_survival_max_difference", 3 },
    { "particle_density_ratio", 2 },
    { "particle_diameter_ks", 3 },
    { "targets_met", 0 },
    { "inverse_mean_error", 3 },
    { "inverse_covered", 0 },
    { "seconds", 0 },
  };
  for (const auto & [name, digits] : columns)
    table.AddColumn(name);
  for (const auto & r : cv["folds"])
  {
    std::vector<std::string> row;
    for (const auto & [name, digits] : columns)
      row.push_back(digits < 0 ? (r[name].is_string() ? r[name].get<std::string>() : r[name].dump())
                               : Text(Number(r, name.c_str()), digits));
    table.AddRow(row);
  }
  table.Write(out + "/cross_validation.csv");

  std::ostringstream text;
  for (const auto & [kind, s] : cv["summary"].items())
  {
    text << kind << " (" << s["fold_seeds"] << " fold-seeds): all six targets met in " << s["all_targets_met"];
    for (const auto & target : CrossValidationTargets())
      text << "; " << target.Label << ": " << s[target.Key]["met"] << " of " << s[target.Key]["of"] << " (mean "
           << Text(Number(s[target.Key], "mean"), 3) << ", worst " << Text(Number(s[target.Key], "worst"), 3) << ")";
    if (s.contains("against_interpolation"))
    {
      const json & a = s["against_interpolation"];
      text << ". Mean |dV_f| " << Text(Number(a, "model_mean_abs_vf_difference_pp"), 2) << " pp against "
           << Text(Number(a, "interpolation_mean_abs_vf_difference_pp"), 2)
           << " for the straight line through the training statistics; mean |log V_f variance ratio| "
           << Text(Number(a, "model_mean_abs_log_vf_variance_ratio"), 3) << " against "
           << Text(Number(a, "interpolation_mean_abs_log_vf_variance_ratio"), 3) << ": the model "
           << (a["beats_interpolation"].get<bool>() ? "beats" : "does not beat") << " the interpolation";
    }
    if (s.contains("against_nearest"))
    {
      const json & a = s["against_nearest"];
      text << ". Against the nearest training condition's own statistics: mean |dV_f| "
           << Text(Number(a, "model_mean_abs_vf_difference_pp"), 2) << " pp against "
           << Text(Number(a, "nearest_mean_abs_vf_difference_pp"), 2) << ", mean |log V_f variance ratio| "
           << Text(Number(a, "model_mean_abs_log_vf_variance_ratio"), 3) << " against "
           << Text(Number(a, "nearest_mean_abs_log_vf_variance_ratio"), 3) << ": the model "
           << (a["beats_nearest"].get<bool>() ? "beats" : "does not beat") << " it";
    }
    if (s.contains("inverse"))
    {
      const json & v = s["inverse"];
      text << ". Inverse: " << v["micrographs"]
           << " held-out micrographs, the 95 % interval without a model error holds "
           << "the truth for " << v["covered_without_model_error"] << "; RMS error "
           << Text(Number(v, "root_mean_square_error"), 3) << " against RMS posterior sd "
           << Text(Number(v, "root_mean_square_sd"), 3) << ": model error " << Text(Number(v, "model_error"), 3)
           << " (MicrostructureInferCondition --modelError)";
    }
    text << ".\n";
  }
  std::cerr << "[study] cross-validation:\n" << text.str();
#ifdef SM_HAVE_REPORT
  itk::report::HtmlReport page;
  page.SetTitle("Cross-validation");
  page.AddHeading("Cross-validation: each condition held out in turn", 1);
  page.AddParagraph("Both networks are trained without the held-out condition and their generated patches are scored "
                    "against its real ones; every seed run is listed. Interpolation folds lie between training "
                    "conditions in a parameter; extrapolation folds outside them. Baselines: the straight line through "
                    "the training conditions' own statistics at the held-out condition, and the nearest training "
                    "condition's own statistics (one parameter apart, the distance a share of that parameter's "
                    "training span). Each fold's full study is "
                    "in its folder (report/index.html).");
  page.AddParagraph(text.str());
  page.AddTable(table, "Per fold and seed (cross_validation.csv).", 0, "cross_validation.csv");
  page.Write(out + "/cross_validation.html");
#endif
}

} // namespace study
} // namespace sm
