/*=========================================================================
 * libFuzzer target: the model-file container parser, itk::modelfile::Parse
 * (src/torch/itkModelFileFormat.cxx), the code that reads the bytes of every
 * VQ-VAE, prior and checkpoint file: first line and version, header lines,
 * escapes, duplicate keys, header checksum, section sizes against the bytes
 * left, section checksums. Not fuzzed here: the LibTorch deserialiser of the
 * sections' tensors (torch::serialize::InputArchive), which is LibTorch's own
 * code and does not link under clang's sanitizers with Debian's LibTorch.
 *
 * Beyond "no crash", it checks: a parsed file only ever fails with
 * itk::ExceptionObject; every header value's accessors (Number, Count,
 * Unsigned64) fail only that way; and Format() of what was parsed parses
 * back to the same keys and sections (the writer and the reader agree).
 *=========================================================================*/
#include "itkModelFileFormat.h"
#include "itkMacro.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace
{
const itk::modelfile::Kind &
FuzzKind()
{
  static const itk::modelfile::Kind kind{ "ITKSMVQVAE", 1, "VQ-VAE model file", "the fuzz target", "retrain" };
  return kind;
}

[[noreturn]] void
Broken(const char * what)
{
  std::fprintf(stderr, "FuzzModelFile: %s\n", what);
  std::abort();
}
} // namespace

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t * data, size_t size)
{
  namespace mf = itk::modelfile;
  const std::string              bytes(reinterpret_cast<const char *>(data), size);
  const std::vector<std::string> sectionNames{ "weights", "optimizer" };
  mf::Contents                   c;
  try
  {
    c = mf::Parse(bytes, "<fuzz>", FuzzKind(), sectionNames, [](const std::string & d) {
      return d.compare(0, 10, "ITKSMPRIOR") == 0 ? std::string("a prior model file") : std::string();
    });
  }
  catch (const itk::ExceptionObject &)
  {
    return 0; // a clear error: what a damaged file must give
  }
  for (const auto & kv : c.Keys)
  {
    try
    {
      (void)c.Number(kv.first);
    }
    catch (const itk::ExceptionObject &)
    {}
    try
    {
      (void)c.Count(kv.first);
    }
    catch (const itk::ExceptionObject &)
    {}
    try
    {
      (void)c.Unsigned64(kv.first);
    }
    catch (const itk::ExceptionObject &)
    {}
  }
  for (const auto & name : sectionNames)
  {
    try
    {
      (void)c.Section(name);
    }
    catch (const itk::ExceptionObject &)
    {}
  }

  // Round trip: the header keys (without the sections' own size and checksum keys, which Format
  // writes) and the sections, formatted and parsed again, are the same.
  std::vector<std::pair<std::string, std::string>> header, sections;
  for (const auto & kv : c.Keys)
  {
    bool own = false;
    for (const auto & [name, bytesOfSection] : c.Sections)
      own = own || kv.first == name + "_bytes" || kv.first == name + "_fnv1a64";
    if (!own)
      header.emplace_back(kv.first, kv.second);
  }
  for (const auto & name : sectionNames)
    if (c.Sections.count(name))
      sections.emplace_back(name, c.Sections.at(name));
  mf::Contents again;
  try
  {
    again = mf::Parse(mf::Format(FuzzKind(), header, sections), "<fuzz, formatted again>", FuzzKind(), sectionNames);
  }
  catch (const itk::ExceptionObject & e)
  {
    std::fprintf(stderr, "%s\n", e.GetDescription());
    Broken("a file formatted from parsed contents does not parse");
  }
  auto keysOf = [](const mf::Contents & x) {
    auto k = x.Keys;
    for (const auto & [name, s] : x.Sections)
    {
      k.erase(name + "_bytes");
      k.erase(name + "_fnv1a64");
    }
    return k;
  };
  if (keysOf(again) != keysOf(c))
    Broken("the header keys changed in a format-parse round trip");
  if (again.Sections != c.Sections)
    Broken("the sections changed in a format-parse round trip");
  return 0;
}
