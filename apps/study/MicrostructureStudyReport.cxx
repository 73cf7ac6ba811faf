/*=========================================================================
 *  The report of MicrostructureStudy: report/index.html (offline), its
 *  tables and its figures (VTK charts, drawn when an X display is there).
 *=========================================================================*/
#include "MicrostructureStudyAnalysis.h"
#include "MicrostructureCLI.h"
#include "itkImage.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkVQVAEModel.h"
#ifdef SM_HAVE_REPORT
#  include "itkMicrostructureReport.h"
#endif

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace sm
{
namespace study
{
namespace fs = std::filesystem;
using nlohmann::json;
using itk::MicrostructureTable;

namespace
{
/** j[key] with `digits` decimals; "–" where it is missing or not a number (results.json writes NaN as null). */
std::string
Fmt(const json & j, const char * key, int digits = 2)
{
  return j.contains(key) && j[key].is_number() ? FormatFixed(j[key].get<double>(), digits, "–") : "–";
}
} // namespace

#ifdef SM_HAVE_REPORT
namespace
{
using StackType = itk::Image<unsigned char, 3>;
using MapType = itk::Image<unsigned short, 3>;
namespace report = itk::report;

/** The rows of the patch table with the condition (at most `limit`, test split first when asked). */
std::vector<size_t>
RowsOf(const MicrostructureTable & table, const Condition & c, size_t limit)
{
  std::vector<size_t> rows;
  for (size_t r = 0; r < table.GetNumberOfRows() && rows.size() < limit; ++r)
    if (RowHasCondition(table, r, c))
      rows.push_back(r);
  return rows;
}

/** Training curves from a trainer's CSV log. */
void
TrainingFigure(const std::string & log, const std::string & png, const std::string & title,
               const std::vector<std::pair<std::string, std::string>> & columns, const std::string & yLabel)
{
  if (!fs::exists(log))
    return;
  const auto                 t = MicrostructureTable::Read(log);
  std::vector<report::Curve> curves;
  for (const auto & [column, label] : columns)
  {
    if (!t.HasColumn(column))
      continue;
    report::Curve c;
    c.Label = label;
    const auto x = t.GetNumericColumn("step"), y = t.GetNumericColumn(column);
    for (size_t i = 0; i < x.size(); ++i)
      if (std::isfinite(x[i]) && std::isfinite(y[i])) // the prior's validation is measured in some epochs only
      {
        c.X.push_back(x[i]);
        c.Mean.push_back(y[i]);
      }
    if (!c.X.empty())
      curves.push_back(c);
  }
  if (!curves.empty())
    report::WriteCurves(png, title, "optimisation step", yLabel, curves);
}

/** Every figure; returns the captions of those drawn, by file name. */
std::map<std::string, std::string>
Figures(const std::string & out, const json & config, const std::vector<Condition> & conditions, const json & results)
{
  std::map<std::string, std::string> drawn;
  const std::string                  dir = out + "/report/";
  const auto                         table = MicrostructureTable::Read(out + "/patches.csv");
  const auto                         real = MicrostructureTable::Read(out + "/measure_real.csv");
  const auto                         recon = MicrostructureTable::Read(out + "/measure_reconstructed.csv");

  // Box plots of volume fraction and mean free path per condition (paper Figs. 10, 12-14).
  for (const auto & [column, label, file, scale] :
       std::vector<std::tuple<std::string, std::string, std::string, double>>{
         { "volume_fraction", "volume fraction (%)", "box_volume_fraction.png", 100.0 },
         { "mean_free_path_um", "mean free path d_f (um)", "box_mean_free_path.png", 1.0 } })
  {
    report::BoxPlotData data;
    data.SeriesNames = { "real", "reconstructed (VQ-VAE)", "generated" };
    data.Values.assign(3, {});
    data.GroupLabel = "condition";
    for (const auto & c : conditions)
    {
      std::string role;
      for (const auto & jc : results["conditions"])
        if (jc["condition"] == c.Key)
          role = jc["role"].get<std::string>();
      data.Groups.push_back(c.Label + (role == "training" ? "" : " (" + role + ")"));
      std::vector<double> a, b, g;
      for (size_t r = 0; r < real.GetNumberOfRows(); ++r)
        if (RowHasCondition(real, r, c))
        {
          a.push_back(scale * real.GetNumber(r, column));
          b.push_back(scale * recon.GetNumber(r, column));
        }
      const std::string genPath = out + "/generated/" + c.Slug + "_measure.csv";
      if (fs::exists(genPath))
        g = MicrostructureTable::Read(genPath).GetNumericColumn(column);
      for (auto & v : g)
        v *= scale;
      data.Values[0].push_back(a);
      data.Values[1].push_back(b);
      data.Values[2].push_back(g);
    }
    report::WriteBoxPlot(dir + file, label + " per condition", label, data);
    drawn[file] = label + ": real patches, their VQ-VAE reconstructions and generated patches per condition "
                          "(boxes: quartiles; whiskers: 1.5 IQR; points beyond).";
  }

  // S2 with 5-95 % bands, real vs generated, per condition.
  for (const auto & c : conditions)
  {
    std::set<size_t> rows;
    for (size_t r = 0; r < real.GetNumberOfRows(); ++r)
      if (RowHasCondition(real, r, c))
        rows.insert(r);
    std::vector<report::Curve> curves;
    for (const auto & [path, label, subset, dashed] : std::vector<std::tuple<std::string, std::string, bool, bool>>{
           { out + "/s2_real.csv", "real", true, true },
           { out + "/generated/" + c.Slug + "_s2.csv", "generated", false, false } })
    {
      const auto    band = S2Band(path, subset ? rows : std::set<size_t>{});
      report::Curve curve;
      curve.Label = label + " (mean, 5-95 %)";
      curve.Dashed = dashed;
      curve.X = band[0];
      curve.Mean = band[1];
      curve.Lower = band[2];
      curve.Upper = band[3];
      if (!curve.X.empty())
        curves.push_back(curve);
    }
    if (curves.size() == 2)
    {
      const std::string file = "s2_" + c.Slug + ".png";
      report::WriteCurves(dir + file, "two-point correlation S2 of ferrite, " + c.Label, "r (um)", "S2(r)", curves);
      drawn[file] = "S2(r) of the ferrite phase at " + c.Label +
                    ", radially averaged: real (dashed) and generated "
                    "(solid) patches, mean with a 5-95 % band.";
    }
  }

  // Chord-length curves with 5-95 % bands, real vs generated, per condition (from results.json).
  for (const auto & c : conditions)
  {
    std::vector<report::Curve> curves;
    for (const auto & jc : results["conditions"])
    {
      if (jc["condition"] != c.Key || !jc.contains("chord_survival"))
        continue;
      const json & cs = jc["chord_survival"];
      for (const auto & [set, dashed] :
           std::vector<std::pair<std::string, bool>>{ { "real", true }, { "generated", false } })
      {
        if (!cs.contains(set))
          continue;
        report::Curve curve;
        curve.Label = set + " (mean, 5-95 %)";
        curve.Dashed = dashed;
        curve.X = cs["length_um"].get<std::vector<double>>();
        curve.Mean = cs[set]["mean"].get<std::vector<double>>();
        curve.Lower = cs[set]["q05"].get<std::vector<double>>();
        curve.Upper = cs[set]["q95"].get<std::vector<double>>();
        curves.push_back(curve);
      }
    }
    if (curves.size() == 2)
    {
      const std::string file = "chords_" + c.Slug + ".png";
      report::WriteCurves(dir + file,
                          "ferrite chord lengths, " + c.Label,
                          "chord length L (um)",
                          "fraction of chords longer than L",
                          curves);
      drawn[file] = "Chord lengths of the ferrite phase at " + c.Label +
                    " (horizontal and vertical test lines, chords cut by the patch edge left out): per patch the "
                    "fraction of its chords longer than L; real (dashed) and generated (solid) patches, mean with a "
                    "5-95 % band.";
    }
  }

  // Montages: real, reconstructed and generated patches per condition (paper Fig. 7), each row followed
  // by the phase the study measured on those patches (its own ruler: Otsu per patch after
  // measure.smoothing_px), to check the segmentation by eye.
  const int    count = config["report"]["montage_patches"].get<int>();
  const double smoothing = config["measure"]["smoothing_px"].get<double>();
  const auto   patches = ReadStack(out + "/patches.nrrd");
  const auto   reconstructed = ReadStack(out + "/reconstructed.nrrd");
  const auto   phaseOf = [smoothing](const report::MontageImageType * patch) {
    auto measure = itk::MicrostructureStackMeasurement<report::MontageImageType>::New();
    measure->SetInput(patch);
    measure->SetSmoothingSigma(smoothing);
    measure->SetKeepSegmentation(true);
    measure->SetNumberOfWorkUnits(1);
    measure->Update();
    report::MontageImageType::Pointer phase = measure->GetSegmentation();
    const auto                        n = phase->GetLargestPossibleRegion().GetNumberOfPixels();
    for (itk::SizeValueType i = 0; i < n; ++i)
      phase->GetBufferPointer()[i] = phase->GetBufferPointer()[i] ? 255 : 0;
    return report::MontageImageType::ConstPointer(phase);
  };
  for (const auto & c : conditions)
  {
    const auto gen = ReadStack(out + "/generated/" + c.Slug + ".nrrd");
    if (!patches || !gen)
      continue;
    std::vector<std::vector<report::MontageImageType::ConstPointer>> rows(3);
    // Spread the real examples over the condition's micrographs.
    const auto all = RowsOf(table, c, table.GetNumberOfRows());
    for (int k = 0; k < count && !all.empty(); ++k)
    {
      const size_t r = all[(k * all.size()) / count];
      rows[0].push_back(sm::cli::ExtractSlice(patches.GetPointer(), r).GetPointer());
      if (reconstructed)
        rows[1].push_back(sm::cli::ExtractSlice(reconstructed.GetPointer(), r).GetPointer());
    }
    for (int k = 0; k < count && k < static_cast<int>(gen->GetLargestPossibleRegion().GetSize()[2]); ++k)
      rows[2].push_back(sm::cli::ExtractSlice(gen.GetPointer(), k).GetPointer());
    std::vector<std::string> labels{ "real", "reconstructed", "generated" };
    if (!reconstructed)
    {
      rows.erase(rows.begin() + 1);
      labels.erase(labels.begin() + 1);
    }
    std::vector<std::vector<report::MontageImageType::ConstPointer>> withPhases;
    std::vector<std::string>                                         withPhaseLabels;
    for (size_t i = 0; i < rows.size(); ++i)
    {
      withPhases.push_back(rows[i]);
      withPhaseLabels.push_back(labels[i]);
      withPhases.emplace_back();
      for (const auto & patch : rows[i])
        withPhases.back().push_back(phaseOf(patch.GetPointer()));
      withPhaseLabels.push_back(labels[i] + ", measured phase");
    }
    const std::string file = "montage_" + c.Slug + ".png";
    report::WriteMontage(dir + file, withPhaseLabels, withPhases);
    drawn[file] = c.Label +
                  ": real patches, their VQ-VAE reconstructions and generated patches, each row above "
                  "the phase the study measured on it (white; Otsu per patch" +
                  (smoothing > 0 ? " after a Gaussian of " + FormatFixed(smoothing, 1, "") + " px" : std::string()) +
                  ").";
  }

  // PCA of the encoder outputs (patch means of z_e) coloured by condition (Fig. 15), and of the codebook (Fig. 16).
  if (patches && fs::exists(out + "/vqvae.model"))
  {
    auto model = itk::VQVAEModel::New();
    model->SetDevice(config["device"].get<std::string>());
    model->Read(out + "/vqvae.model");
    const auto          size = patches->GetLargestPossibleRegion().GetSize();
    const unsigned int  w = static_cast<unsigned int>(size[0]), h = static_cast<unsigned int>(size[1]);
    const unsigned int  D = model->GetHyperparameters().CodeDimension;
    report::ScatterData scatter;
    std::vector<float>  features;
    size_t              n = 0;
    for (const auto & c : conditions)
    {
      const auto         rows = RowsOf(table, c, 150);
      std::vector<float> x(rows.size() * w * h);
      for (size_t i = 0; i < rows.size(); ++i)
        for (size_t p = 0; p < static_cast<size_t>(w) * h; ++p)
          x[i * w * h + p] =
            static_cast<float>(model->NormalizeIntensity(patches->GetBufferPointer()[rows[i] * w * h + p]));
      if (rows.empty())
        continue;
      const auto   z = model->EncodeToLatents(x.data(), static_cast<unsigned int>(rows.size()), h, w);
      const size_t per = z.size() / rows.size() / D;
      for (size_t i = 0; i < rows.size(); ++i)
      {
        for (unsigned int d = 0; d < D; ++d)
        {
          double s = 0;
          for (size_t p = 0; p < per; ++p)
            s += z[(i * D + d) * per + p];
          features.push_back(static_cast<float>(s / per));
        }
        scatter.Group.push_back(c.Label);
        ++n;
      }
    }
    std::vector<double> explained;
    const auto          pcs = report::PrincipalComponents(features, n, D, 2, &explained);
    for (size_t i = 0; i < n; ++i)
    {
      scatter.X.push_back(pcs[2 * i]);
      scatter.Y.push_back(pcs[2 * i + 1]);
    }
    std::ostringstream axis1, axis2;
    axis1.precision(1);
    axis2.precision(1);
    axis1 << std::fixed << "PC1 (" << 100 * explained[0] << " %)";
    axis2 << std::fixed << "PC2 (" << 100 * explained[1] << " %)";
    report::WriteScatter(
      dir + "pca_encoder.png", "encoder outputs (patch means) by condition", axis1.str(), axis2.str(), scatter);
    drawn["pca_encoder.png"] = "Principal components of the encoder outputs z_e (averaged over each patch), coloured "
                               "by condition (paper Fig. 15).";

    const auto          codebook = model->GetCodebook();
    const unsigned      K = model->GetHyperparameters().CodebookSize;
    std::vector<double> usage(K, 0.0);
    if (fs::exists(out + "/maps_real.nrrd"))
    {
      const auto   maps = itk::ReadScalarImage<MapType>(out + "/maps_real.nrrd");
      const auto   ms = maps->GetLargestPossibleRegion().GetSize();
      const size_t total = ms[0] * ms[1] * ms[2];
      for (size_t i = 0; i < total; ++i)
        usage[std::min<size_t>(K - 1, maps->GetBufferPointer()[i])] += 1.0;
    }
    std::vector<double> codeExplained;
    const auto          cpcs = report::PrincipalComponents(codebook, K, D, 2, &codeExplained);
    report::ScatterData codes;
    for (unsigned k = 0; k < K; ++k)
    {
      codes.X.push_back(cpcs[2 * k]);
      codes.Y.push_back(cpcs[2 * k + 1]);
      codes.Group.push_back(usage[k] == 0 ? "unused" : usage[k] < 10 ? "used < 10 times" : "used >= 10 times");
    }
    report::WriteScatter(dir + "pca_codebook.png", "codebook vectors", "PC1", "PC2", codes);
    drawn["pca_codebook.png"] = "Principal components of the K codebook vectors, by how often the real patches use "
                                "them (paper Fig. 16).";
  }

  TrainingFigure(out + "/vqvae_log.csv",
                 dir + "training_vqvae.png",
                 "VQ-VAE training",
                 { { "train_mse", "train MSE" }, { "val_mse", "validation MSE" } },
                 "MSE (images in [-1, 1])");
  TrainingFigure(out + "/vqvae_log.csv",
                 dir + "training_vqvae_bias.png",
                 "VQ-VAE: bias of the reconstructions",
                 { { "vf_bias_pp", "volume fraction bias (pp)" }, { "df_bias_percent", "mean free path bias (%)" } },
                 "bias");
  TrainingFigure(out + "/prior_log.csv",
                 dir + "training_prior.png",
                 "prior training",
                 { { "train_bits_per_index", "train" }, { "val_bits_per_index", "validation" } },
                 "bits per index");
  for (const auto & [file, caption] : std::vector<std::pair<std::string, std::string>>{
         { "training_vqvae.png", "VQ-VAE training: reconstruction MSE per epoch." },
         { "training_vqvae_bias.png",
           "VQ-VAE validation: bias of the reconstructions' volume fraction (pp) and mean "
           "free path (%) against the originals, per epoch." },
         { "training_prior.png",
           "Prior training: negative log-likelihood in bits per index, training and validation "
           "(validation by sample)." } })
    if (fs::exists(dir + file))
      drawn[file] = caption;
  return drawn;
}
} // namespace
#endif

std::string
ResultsMarkdown(const json & results, const json & config)
{
  const auto cell = [](std::string text) { // a table cell: '|' would end it
    for (size_t i = text.find('|'); i != std::string::npos; i = text.find('|', i + 2))
      text.replace(i, 1, "\\|");
    return text;
  };
  const auto list = [](const json & values) {
    std::ostringstream text;
    for (size_t i = 0; i < values.size(); ++i)
    {
      text << (i ? ", " : "");
      if (values[i].is_string())
        text << values[i].get<std::string>();
      else if (values[i].is_number())
        text << values[i].get<double>(); // 30, not 30.0
      else
        text << values[i].dump();
    }
    return values.empty() ? std::string("none") : text.str();
  };
  std::ostringstream md;
  md << "# Microstructure study: results\n\n"
     << "Written by MicrostructureStudy from its `report/results.json`, which holds every figure unrounded: the "
        "numbers here are its own, rounded as shown. The study's report page is `report/index.html`.\n\n";

  // The settings (the command line and the preset are not recorded; config.json holds every setting).
  const json & data = config["data"];
  const auto   training = [](const json & network) { // the precision where the config sets it
    return network["steps"].dump() + " steps" +
           (network.contains("precision") ? ", precision " + network["precision"].get<std::string>() : "");
  };
  md << "Settings (all of them in the study's `config.json`):\n\n";
  if (data["source"] == "synthetic")
    md << "- data: the embedded synthetic ferrite-pearlite source, training cooling rates "
       << list(data["synthetic"]["train_rates"]) << " °C/s\n";
  else
    md << "- data: the micrographs of `" << data["csv"]["path"].get<std::string>() << "`\n";
  md << "- held out: " << list(config["holdout"]) << "; unseen: " << list(config["unseen"]) << "\n"
     << "- device: " << config["device"].get<std::string>() << "; VQ-VAE: " << training(config["vqvae"])
     << "; prior: " << training(config["prior"]) << "\n"
     << "- generated: " << config["generate"]["samples"].dump() << " patches per condition, "
     << config["generate"]["holdout_samples"].dump() << " at the held-out one\n\n";

  // The main figures per condition and set.
  bool hasS2 = false;
  for (const auto & jc : results["conditions"])
    hasS2 = hasS2 || (jc.contains("generated_vs_real") && jc["generated_vs_real"].contains("s2_rms"));
  md << "## Per condition\n\n"
     << "| condition | role | set | patches | V_f mean (%) | d_f mean (um) | V_f variance ratio | V_f KS | "
        "d_f variance ratio |"
     << (hasS2 ? " S2 RMS |" : "") << "\n"
     << "|---|---|---|--:|--:|--:|--:|--:|--:|" << (hasS2 ? "--:|" : "") << "\n";
  for (const auto & jc : results["conditions"])
    for (const std::string set : { "real", "reconstructed", "generated" })
    {
      const json & d = jc["sets"][set];
      const json & cmp = set == "real" ? json::object() : jc[set + "_vs_real"];
      md << "| " << cell(jc.value("label", jc["condition"].get<std::string>())) << " | "
         << cell(jc["role"].get<std::string>()) << " | " << set << " | " << d.value("n", 0) << " | "
         << Fmt(d, "vf_mean") << " | " << Fmt(d, "df_mean", 3) << " | " << Fmt(cmp, "vf_variance_ratio") << " | "
         << Fmt(cmp, "vf_ks", 3) << " | " << Fmt(cmp, "df_variance_ratio") << " |"
         << (hasS2 ? " " + Fmt(cmp, "s2_rms", 4) + " |" : "") << "\n";
    }
  md << "\nV_f: volume fraction, d_f: mean free path of the measured phase, per patch (means over the set's "
        "patches). Ratios (variance of the set / variance of the real patches) and KS statistics: the reconstructed "
        "and generated patches against the real ones of their condition"
     << (hasS2 ? "; S2 RMS: the generated patches' mean S2 curve against the real ones'" : "") << ".\n";

  // The targets at the held-out condition.
  const json & t = results.value("holdout_targets", json::object());
  if (t.contains("condition"))
  {
    std::string label = t["condition"].get<std::string>();
    for (const auto & jc : results["conditions"])
      if (jc["condition"] == t["condition"] && jc.contains("label"))
        label = jc["label"].get<std::string>() + " (" + t["condition"].get<std::string>() + ")";
    md << "\n## Held-out condition: " << label << "\n\n"
       << t.value("generated", 0) << " generated patches against " << t.value("true", 0)
       << " true ones (the real patches of the condition, which neither network saw).\n\n"
       << "| target | value | met |\n|---|--:|---|\n";
    unsigned int met = 0;
    for (const auto & target : CrossValidationTargets())
    {
      const std::string key = target.Key;
      const int         digits = key == "vf_ks" ? 3 : key == "s2_rms" ? 4 : 2;
      const bool        known = t.contains(key) && t[key].is_number();
      const bool        ok = known && target.Met(t[key].get<double>());
      met += ok;
      md << "| " << cell(target.Label) << " | " << Fmt(t, target.Key, digits) << " | "
         << (known ? (ok ? "yes" : "no") : "–") << " |\n";
    }
    md << "\n" << met << " of " << CrossValidationTargets().size() << " targets met.\n";
  }
  return md.str();
}

void
WriteReport(const std::string & out, const json & config, const std::vector<Condition> & conditions,
            const json & results, const MicrostructureTable & comparison)
{
  const std::string dir = out + "/report/";
  fs::create_directories(dir);
  itk::WriteTextFileAtomically(dir + "config.json", config.dump(2) + "\n");
#ifndef SM_HAVE_REPORT
  std::cerr << "[study] this build has no VTK: the report is results.json, results.md and comparison.csv in " << dir
            << "\n";
  (void)conditions;
  (void)results;
  (void)comparison;
#else
  std::map<std::string, std::string> figures;
  std::string                        why;
  if (report::HasDisplay(&why))
    figures = Figures(out, config, conditions, results);
  else
    std::cerr << "[study] no figures: " << why << " (run the study under xvfb-run -a)\n";

  report::HtmlReport page;
  const bool         synthetic = config["data"]["source"] == "synthetic";
  page.SetTitle("Microstructure study");
  page.AddHeading("Microstructure study", 1);
  page.AddParagraph(
    std::string("Process -> microstructure, after Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021): a VQ-VAE turns "
                "micrograph patches into codebook index maps, a gated PixelCNN conditioned on the process parameters "
                "learns their distribution, and sampling it gives new micrographs for any condition. Data: ") +
    (synthetic ? "the embedded synthetic ferrite-pearlite source (truth known at every cooling rate)."
               : "real micrographs from " + config["data"]["csv"]["path"].get<std::string>() + ".") +
    " Held-out and unseen conditions were excluded from training both networks; their real patches are the truth "
    "the generated ones are compared with.");

  const json & t = results["holdout_targets"];
  if (!t.empty())
  {
    page.AddHeading("Held-out condition: " + t["condition"].get<std::string>(), 2);
    MicrostructureTable targets;
    const json          baselines = t.value("baseline_interpolations", json::array());
    for (const char * c : { "figure", "ours", "target", "met", "paper (training conditions only)" })
      targets.AddColumn(c);
    for (const auto & b : baselines)
    {
      const std::string method = b.value("method", "linear");
      targets.AddColumn(std::string(method == "parabola" ? "a parabola through" : "interpolating") +
                        " the training conditions' true means in " + b["parameter"].get<std::string>());
    }
    auto yes = [&](const char * key) { return t.value(key, false) ? "yes" : "NO"; };
    auto row = [&](std::vector<std::string> cells, const char * key, int digits) {
      for (const auto & b : baselines)
        cells.push_back(key ? Fmt(b, key, digits) : std::string("–"));
      targets.AddRow(cells);
    };
    row({ "volume fraction, generated - true mean (pp)",
          Fmt(t, "vf_mean_difference_pp"),
          "|.| <= 1",
          yes("vf_mean_ok"),
          "not checked at an unseen condition" },
        "vf_mean_difference_pp",
        2);
    row({ "mean free path, generated vs true mean (%)",
          Fmt(t, "df_mean_difference_percent", 1),
          "|.| <= 5",
          yes("df_mean_ok"),
          "+16 to +24 % (its Table II)" },
        "df_mean_difference_percent",
        1);
    row({ "volume fraction variance ratio, generated / true",
          Fmt(t, "vf_variance_ratio"),
          "0.8 .. 1.25",
          yes("vf_variance_ok"),
          "–" },
        "vf_variance_ratio",
        2);
    row({ "volume fraction KS statistic", Fmt(t, "vf_ks", 3), "<= 0.1", yes("vf_ks_ok"), "–" }, nullptr, 0);
    std::string caption = std::to_string(t.value("generated", 0)) + " generated vs " +
                          std::to_string(t.value("true", 0)) + " true patches at the held-out condition.";
    for (const auto & b : baselines)
    {
      if (b.value("method", "linear") == "parabola")
      {
        caption +=
          " A parabola in " + b["parameter"].get<std::string>() + " through the true means (and variances) of ";
        for (size_t i = 0; i < b["between"].size(); ++i)
          caption += (i ? (i + 1 == b["between"].size() ? " and " : ", ") : "") + b["between"][i].get<std::string>();
        caption += ": what a model would give that knew them exactly and bent between them.";
      }
      else
        caption += " Interpolating in " + b["parameter"].get<std::string>() +
                   ": what linear interpolation between the true means (and variances) of " +
                   b["between"][0].get<std::string>() + " and " + b["between"][1].get<std::string>() +
                   " gives, as a model would that knew the training conditions exactly and interpolated them naively.";
    }
    page.AddTable(targets, caption);
  }
  const json & inverse = results.value("inverse", json::object());
  if (inverse.contains("micrographs"))
  {
    page.AddHeading("The inverse: which rate made a held-out micrograph?", 2);
    MicrostructureTable table;
    for (const char * c : { "micrograph",
                            "MAP (degC/s)",
                            "95 % interval (degC/s)",
                            "true (degC/s)",
                            "inside",
                            "sandwich adjustment",
                            "model error (ln)" })
      table.AddColumn(c);
    const double truth = inverse["truth"].get<double>();
    for (const auto & m : inverse["micrographs"])
      table.AddRow({ std::to_string(m["micrograph"].get<int>()),
                     FormatFixed(std::exp(m["maximum_a_posteriori"].get<double>()), 2, ""),
                     FormatFixed(std::exp(m["lower95"].get<double>()), 2, "") + " .. " +
                       FormatFixed(std::exp(m["upper95"].get<double>()), 2, ""),
                     FormatFixed(std::exp(truth), 2, ""),
                     m["covered"].get<bool>() ? "yes" : "NO",
                     FormatFixed(m["adjustment"].get<double>(), 2, ""),
                     FormatFixed(m["model_error"].get<double>(), 3, "") });
    page.AddTable(table,
                  "MicrostructureInferCondition on whole held-out micrographs (inverse/): the posterior of ln "
                  "cooling rate from the exact likelihood of their patches, pooled with the sandwich adjustment "
                  "(how much more the patches disagree than the model says) and widened by the model error "
                  "(config inverse.model_error; cross-validation measures it).");
  }
  page.AddHeading("Per condition: real, reconstructed, generated", 2);
  page.AddTable(comparison,
                "Means, variances and distances per condition and set (volume fraction in %, d_f in um). Differences, "
                "ratios, KS and Wasserstein: reconstructed and generated against the real patches of the condition.",
                0,
                "comparison.csv");
  for (const char * f : { "box_volume_fraction.png", "box_mean_free_path.png" })
    if (figures.count(f))
      page.AddFigure(f, figures[f]);
  page.AddParagraph("The VQ-VAE's bias is reconstructed vs real; the prior's is generated vs reconstructed (both in "
                    "results.json): the decoder alone is why the paper's grain sizes came out coarse.");

  page.AddHeading("Two-point correlation", 2);
  for (const auto & [f, caption] : figures)
    if (f.rfind("s2_", 0) == 0)
      page.AddFigure(f, caption);
  page.AddHeading("Chord lengths", 2);
  for (const auto & [f, caption] : figures)
    if (f.rfind("chords_", 0) == 0)
      page.AddFigure(f, caption);
  page.AddHeading("Samples", 2);
  for (const auto & [f, caption] : figures)
    if (f.rfind("montage_", 0) == 0)
      page.AddFigure(f, caption);
  page.AddHeading("Latent space", 2);
  for (const char * f : { "pca_encoder.png", "pca_codebook.png" })
    if (figures.count(f))
      page.AddFigure(f, figures[f]);

  page.AddHeading("Memorisation", 2);
  MicrostructureTable memo;
  for (const char * c : { "condition",
                          "generated: median max correlation",
                          "real unseen: median max correlation",
                          "generated above real 99th percentile" })
    memo.AddColumn(c);
  for (const auto & m : results["memorisation"])
    memo.AddRow({ m["condition"].get<std::string>(),
                  Fmt(m, "generated_median_max_correlation", 3),
                  Fmt(m, "real_unseen_median_max_correlation", 3),
                  Fmt(m, "generated_fraction_above_real_99th_percentile", 3) });
  page.AddTable(memo,
                "Largest normalised cross-correlation of each patch with any training patch: a generated "
                "patch that copies a training patch scores near 1, far above real patches the networks never saw.");

  page.AddHeading("Training", 2);
  for (const char * f : { "training_vqvae.png", "training_vqvae_bias.png", "training_prior.png" })
    if (figures.count(f))
      page.AddFigure(f, figures[f]);
  MicrostructureTable timing;
  timing.AddColumn("step");
  timing.AddColumn("seconds (this run)");
  for (const auto & [name, seconds] : results["timings_s"].items())
    timing.AddRow({ name, Fmt(seconds.is_number() ? json{ { "v", seconds } } : json{}, "v", 1) });
  page.AddTable(timing, "Steps run this time (steps already done were reused and are not listed).", 0);
  if (figures.empty())
    page.AddParagraph("No figures: " + why + ". Run the study under xvfb-run -a to draw them.");
  page.AddHeading("Files", 3);
  page.AddLink("results.json", "results.json (every figure of this page)");
  page.AddLink("results.md", "results.md (a summary of results.json)");
  page.AddLink("comparison.csv", "comparison.csv");
  page.AddLink("config.json", "config.json (the settings of this run)");
  if (!synthetic)
    page.AddParagraph("Real data: UHCSDB, B. L. DeCost et al., Integrating Materials and Manufacturing Innovation 6, "
                      "197-205 (2017); NIST Materials Data Repository, handle 11256/940, CC BY 3.0 US.");
  page.Write(dir + "index.html");
  std::cerr << "[study] report with " << figures.size() << " figures: " << dir << "index.html\n";
#endif
}

} // namespace study
} // namespace sm
