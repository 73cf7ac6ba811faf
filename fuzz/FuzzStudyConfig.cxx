/*=========================================================================
 * libFuzzer target: the study's config reading, sm::study::ParseUserConfig
 * and sm::study::ComposeConfig (apps/study/MicrostructureStudyConfig.cxx):
 * the JSON parse, the key check against each built-in preset
 * (CheckConfigKeys, recursive through sections and slow_cpu), and the
 * merge of preset, slow-CPU settings, user config and --device; without
 * running a study.
 *
 * Beyond "no crash", it checks: a bad config fails only with
 * std::invalid_argument (the CLI's clear error naming the file; a
 * nlohmann::json exception escaping would be a message naming no key), and
 * a config that passes composes into an object with every preset section
 * still an object and slow_cpu an object.
 *=========================================================================*/
#include "MicrostructureStudyConfig.h"
#include "MicrostructureStudyPresets.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace
{
[[noreturn]] void
Broken(const std::string & what)
{
  std::fprintf(stderr, "FuzzStudyConfig: %s\n", what.c_str());
  std::abort();
}
} // namespace

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t * data, size_t size)
{
  using nlohmann::json;
  const std::string              text(reinterpret_cast<const char *>(data), size);
  static const std::vector<json> presets = [] {
    std::vector<json> all;
    for (const auto & p : sm::study::Presets)
      all.push_back(sm::study::Preset(std::string(p.Name)));
    return all;
  }();
  for (const json & preset : presets)
  {
    json user;
    try
    {
      user = sm::study::ParseUserConfig(text, preset, "<fuzz>");
    }
    catch (const std::invalid_argument &)
    {
      continue; // a clear error naming the file
    }
    for (const bool slow : { false, true })
    {
      json config;
      try
      {
        config =
          sm::study::ComposeConfig(preset, user, slow ? "cpu" : "", [slow](const std::string &) { return slow; });
      }
      catch (const std::invalid_argument &)
      {
        continue;
      }
      if (!config.is_object() || !config["slow_cpu"].is_object())
        Broken("a composed config is not an object, or its slow_cpu is not");
      if (slow && config["device"] != "cpu")
        Broken("--device did not replace the config's device");
    }
  }
  return 0;
}
