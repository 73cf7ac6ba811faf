/*=========================================================================
 *  The config of MicrostructureStudy (MicrostructureStudyConfig.h).
 *=========================================================================*/
#include "MicrostructureStudyConfig.h"
#include "MicrostructureStudyPresets.h"

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

namespace sm
{
namespace study
{
using nlohmann::json;

json
Preset(const std::string & name)
{
  std::string names;
  for (const auto & p : Presets)
  {
    if (p.Name == name)
    {
      try
      {
        return json::parse(p.Json);
      }
      catch (const json::exception & e)
      {
        throw std::logic_error("the built-in preset " + name + " (apps/study/presets/" + name +
                               ".json) is not valid JSON: " + e.what());
      }
    }
    names += (names.empty() ? "" : ", ") + std::string(p.Name);
  }
  throw std::invalid_argument("unknown preset \"" + name + "\": use one of " + names);
}

void
Merge(json & base, const json & over)
{
  for (auto it = over.begin(); it != over.end(); ++it)
  {
    if (it->is_object() && base.contains(it.key()) && base[it.key()].is_object())
      Merge(base[it.key()], *it);
    else
      base[it.key()] = *it;
  }
}

namespace
{
/** The kind of a config value, for the check that a user's value has the preset's: a string and a
 * list are one kind (the study passes either as a comma-separated option, and cross_validation.folds
 * is "interior", "all" or a list); integers and fractions are numbers. */
std::string
Kind(const json & v)
{
  if (v.is_object())
    return "an object";
  if (v.is_boolean())
    return "true or false";
  if (v.is_number())
    return "a number";
  if (v.is_string() || v.is_array())
    return "a text or a list";
  return "null";
}

/** Keys the study once read, and why they went: a config that still gives one is refused with the
 * reason, not as a misspelling. */
const std::map<std::string, std::string> &
RemovedKeys()
{
  static const std::map<std::string, std::string> removed = {
    { "prior.condition_degree",
      "the prior encodes a continuous parameter linearly, as the paper does, since session 24 (degree 2 spread the "
      "held-out errors of the training rates further: CHANGELOG.md, session 12)" },
    { "prior.condition_exponentials",
      "the prior has no exponential condition terms (such as 1 / cooling rate) since session 24 (with them the "
      "cross-validation met fewer targets and the phase fraction varied less: docs/cross_validation.md, sessions "
      "22 and 23)" },
    { "prior.composition_budget",
      "the composition level always carries the composition budget since session 23 (the level without it "
      "drew maps whose phase fraction drifted 3-5 pp from their drawn share, docs/cross_validation.md)" },
    { "prior.mirrors",
      "the prior no longer trains on mirrored patches since session 23 (measured: a better likelihood, but "
      "the generated phase fraction about 1.7 pp higher at every rate and less varied, docs/cross_validation.md, "
      "session 21, \"1200 steps, mirrors\")" },
    { "prior.schedule",
      "the prior trains at a constant learning rate since session 23 (a cosine decay measured no "
      "better: CHANGELOG.md, \"Prior variants at equal cost\")" },
    { "prior.dilations",
      "the prior's layers are not dilated since session 23 (dilations 1, 2, 4, 8 raised the "
      "generated phase fraction in session 5 and, with the composition budget, met fewer "
      "cross-validation targets: docs/cross_validation.md, sessions 23 and 32; removed in session 33)" },
    { "prior.embedding_dimension",
      "the index embedding has prior.hidden_channels channels since session 23 (as in "
      "the paper and the demo: 64 and 32)" },
    { "prior.first_kernel_size", "the first layer's kernel is the paper's 7 x 7 in every prior since session 23" },
    { "prior.kernel_size", "the kernels after the first layer are the paper's 3 x 3 in every prior since session 23" },
  };
  return removed;
}
} // namespace

void
CheckConfigKeys(const json & user, const json & preset, const std::string & file, const std::string & path)
{
  static const std::map<std::string, std::set<std::string>> optional = {
    { "", { "slow_cpu" } },
    { "prior.", { "composition_level" } },
    { "vqvae.",
      { "schedule",
        "gradient_loss_weight",
        "phase_loss_weight",
        "phase_loss_softness",
        "phase_loss_threshold",
        "histogram_loss_weight",
        "interface_loss_weight",
        "precision" } },
    { "generate.", { "unseen" } },
    { "data.", { "categorical" } },
  };
  for (const auto & [key, value] : user.items())
  {
    const std::string name = path + key;
    const auto        extra = optional.find(path);
    const bool        known = preset.contains(key) || (extra != optional.end() && extra->second.count(key) > 0);
    if (!known && path == "prior." &&
        (key.rfind("calibration_", 0) == 0 || key == "condition_exponentials_calibration_only"))
      throw std::invalid_argument("the config file " + file + " has the key \"" + name +
                                  "\": the prior's post-hoc calibrations were removed in session 22 (they fitted the "
                                  "scored statistics; the network with its composition level carries the variation "
                                  "now, see docs/cross_validation.md): remove the key");
    const auto removed = RemovedKeys().find(name);
    if (!known && removed != RemovedKeys().end())
      throw std::invalid_argument("the config file " + file + " has the key \"" + name +
                                  "\", which the study no longer "
                                  "reads: " +
                                  removed->second + "; remove the key");
    if (!known)
    {
      std::string keys;
      for (const auto & [k, v] : preset.items())
        keys += (keys.empty() ? "" : ", ") + k;
      throw std::invalid_argument("the config file " + file + " has the key \"" + name +
                                  "\", which the study does not read: check its spelling (" +
                                  (path.empty() ? std::string("top-level keys") : path.substr(0, path.size() - 1)) +
                                  " has: " + keys + ")");
    }
    if (preset.contains(key) && Kind(value) != Kind(preset[key]))
      throw std::invalid_argument("the config file " + file + " gives \"" + name + "\" " + Kind(value) + " (" +
                                  value.dump().substr(0, 60) + "), where the study reads " + Kind(preset[key]) +
                                  " (the preset has " + preset[key].dump().substr(0, 60) + "): change its value");
    if (key == "slow_cpu" && path.empty() && value.is_object())
      CheckConfigKeys(value, preset, file, "");
    else if (value.is_object() && preset.contains(key) && preset[key].is_object() && !preset[key].empty())
      CheckConfigKeys(value, preset[key], file, name + ".");
  }
}

json
ParseUserConfig(const std::string & text, const json & preset, const std::string & file)
{
  json user;
  try
  {
    user = json::parse(text);
  }
  catch (const json::exception & e)
  {
    throw std::invalid_argument("the config file " + file + " is not valid JSON: " + e.what());
  }
  if (!user.is_object())
    throw std::invalid_argument("the config file " + file + " must hold a JSON object");
  CheckConfigKeys(user, preset, file);
  if (user.contains("slow_cpu") && !user["slow_cpu"].is_object())
    throw std::invalid_argument("the config file " + file +
                                ": slow_cpu must be an object of settings (like the config's own), or {} for none");
  if (user.contains("device") && !user["device"].is_string())
    throw std::invalid_argument("the config file " + file +
                                ": device must be a string (\"auto\", \"cpu\" or \"cuda:N\")");
  return user;
}

void
CheckInverseConfig(const json & inverse)
{
  if (!inverse.is_object())
    throw std::invalid_argument("inverse must be an object: { \"images\": 1, \"patches\": 16, \"grid_count\": 41, "
                                "\"model_error\": 0 }");
  const auto integer = [&](const char * key, int minimum) {
    if (!inverse.contains(key) || !inverse[key].is_number_integer() || inverse[key].get<double>() < minimum ||
        inverse[key].get<double>() > 1e6)
      throw std::invalid_argument(std::string("inverse.") + key + " must be an integer from " +
                                  std::to_string(minimum) + " to 1000000 (it is " +
                                  (inverse.contains(key) ? inverse[key].dump() : "missing") + ")");
  };
  integer("images", 0);
  integer("patches", 0);
  integer("grid_count", 3);
  if (!inverse.contains("model_error") || !inverse["model_error"].is_number() ||
      !(inverse["model_error"].get<double>() >= 0) || !std::isfinite(inverse["model_error"].get<double>()))
    throw std::invalid_argument("inverse.model_error must be a number >= 0, the standard deviation in ln rate "
                                "(cross_validation.json's inverse model_error); it is " +
                                (inverse.contains("model_error") ? inverse["model_error"].dump() : "missing"));
}

json
ComposeConfig(json preset, json user, const std::string & device,
              const std::function<bool(const std::string &)> & slowCPU,
              const std::function<void(const json &)> &        onSlowCPU)
{
  if (!device.empty())
    user["device"] = device;
  const json slow = user.contains("slow_cpu") ? user["slow_cpu"] : preset.value("slow_cpu", json::object());
  if (!slow.is_object())
    throw std::invalid_argument("slow_cpu must be an object of settings (like the config's own), or {} for none");
  const json & chosen = user.contains("device") ? user["device"] : preset["device"];
  if (!chosen.is_string())
    throw std::invalid_argument("device must be a string (\"auto\", \"cpu\" or \"cuda:N\")");
  if (!slow.empty() && slowCPU && slowCPU(chosen.get<std::string>()))
  {
    Merge(preset, slow);
    if (onSlowCPU)
      onSlowCPU(slow);
  }
  Merge(preset, user);
  preset["slow_cpu"] = slow; // the settings for a slow CPU in force, whether applied or not
  CheckInverseConfig(preset["inverse"]);
  if (preset.contains("generate") && preset["generate"].is_object() &&
      preset["generate"].contains("composition_candidates"))
  {
    const auto & c = preset["generate"]["composition_candidates"];
    if (!c.is_number_integer() || c.get<double>() < 1 || c.get<double>() > 64)
      throw std::invalid_argument("generate.composition_candidates must be an integer from 1 to 64 (maps drawn per "
                                  "map kept; 1 = the network's own draw); it is " +
                                  c.dump());
  }
  return preset;
}

} // namespace study
} // namespace sm
