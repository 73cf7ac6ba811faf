/*=========================================================================
 *  The config of MicrostructureStudy: a built-in preset, the user's JSON
 *  config checked against it, and the two merged. Free of ITK and LibTorch
 *  (the fuzz target fuzz/FuzzStudyConfig.cxx runs it without a study).
 *=========================================================================*/
#ifndef MicrostructureStudyConfig_h
#define MicrostructureStudyConfig_h

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace sm
{
namespace study
{

/** The preset `name`: its whole config, the text of apps/study/presets/<name>.json compiled into the
 * executable (MicrostructureStudyPresets.h). What each preset is for, and the demo's slow_cpu
 * settings (applied on a CPU without AVX-512): apps/study/presets/README.md. Throws
 * std::invalid_argument for a name that is no preset. */
nlohmann::json
Preset(const std::string & name);

/** Deep merge: values of `over` replace those of `base`; objects merge key by key. */
void
Merge(nlohmann::json & base, const nlohmann::json & over);

/** Refuses a key of the user's config that the study does not read (a misspelt key would otherwise
 * be ignored silently), naming it with its path. Known keys: the preset's, and the optional ones
 * that no preset sets. slow_cpu holds settings of the same form. A value of a key the preset has
 * must be of its kind (an object, a number, true or false, a text or a list: a string and a list
 * are one kind), so a type error names its key before any step runs; the values of the optional
 * keys and the elements of lists are checked where the study reads them. Throws
 * std::invalid_argument. */
void
CheckConfigKeys(const nlohmann::json & user, const nlohmann::json & preset, const std::string & file,
                const std::string & path = "");

/** The user's config from the text of the file `file` (named in messages): valid JSON holding an
 * object whose keys the study reads (CheckConfigKeys against `preset`), and whose slow_cpu, when
 * given, is an object. Throws std::invalid_argument naming the file. */
nlohmann::json
ParseUserConfig(const std::string & text, const nlohmann::json & preset, const std::string & file);

/** The inverse section's types and ranges (integers images >= 0, patches >= 0, grid_count >= 3; a
 * finite model_error >= 0): std::invalid_argument naming the key. ComposeConfig calls it. */
void
CheckInverseConfig(const nlohmann::json & inverse);

/** The config a study runs: `preset`, then its slow-CPU settings (the user's slow_cpu when given,
 * else the preset's) when `slowCPU(device)` says the networks run on a slow CPU, then the user's
 * config, then `device` when not empty. The slow-CPU settings come before the user's, so that
 * every setting given stays. config["slow_cpu"] is the settings for a slow CPU in force, whether
 * applied or not. `onSlowCPU(settings)` is told when they apply. Throws std::invalid_argument
 * for a slow_cpu that is not an object or a device that is not a string. */
nlohmann::json
ComposeConfig(nlohmann::json preset, nlohmann::json user, const std::string & device,
              const std::function<bool(const std::string &)> &    slowCPU,
              const std::function<void(const nlohmann::json &)> & onSlowCPU = {});

} // namespace study
} // namespace sm

#endif
