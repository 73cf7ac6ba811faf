/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the container of
 * the model files (VQ-VAE, prior) and of their checkpoints, without
 * LibTorch (the tensors' bytes are opaque sections here; itkModelFile.h adds
 * the LibTorch (de)serialisation). fuzz/FuzzModelFile.cxx fuzzes Parse().
 *
 *   <MAGIC> <version>\n
 *   key = value\n ...                 (values escaped: \\ \n \r)
 *   <section>_bytes = N\n
 *   <section>_fnv1a64 = hex\n ...     (one pair per binary section)
 *   header_fnv1a64 = hex\n            (FNV-1a of every header byte before this line)
 *   end_header\n
 *   <section bytes> ...               (in the order of the header)
 *
 * The <..>_fnv1a64 values are itk::MicrostructureHash() (itkMicrostructureHash.h: FNV-1a from
 * the module's own offset basis), in lowercase hexadecimal.
 *
 * Section sizes are decimal unsigned integers, each checked against the bytes
 * left in the file. Files written before header_fnv1a64 existed lack it and
 * are still read (their header is not checked); older readers ignore it.
 *
 * Written atomically (WriteTextFileAtomically: checked writes, fsync, rename);
 * read only from a regular file of at most 8 GiB, with clear
 * itk::ExceptionObject messages for a missing, foreign, newer, truncated,
 * edited or damaged file.
 *=========================================================================*/
#ifndef itkModelFileFormat_h
#define itkModelFileFormat_h

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace itk
{
namespace modelfile
{

/** Backslash-escapes '\\', newlines and carriage returns: one header line. */
std::string
Escape(const std::string & text);
std::string
Unescape(const std::string & text);

/** What a model file is, for messages. */
struct Kind
{
  std::string Magic;       ///< first word, e.g. ITKSMVQVAE
  unsigned int Version{ 1 };
  std::string Name;        ///< e.g. "VQ-VAE model file"
  std::string WrittenBy;   ///< e.g. "VQVAEModel::Write (MicrostructureTrainVQVAE)"
  std::string Retrain;     ///< what to do with a newer version, e.g. "retrain the model"
};

/** The header and sections of a file that was read. */
class Contents
{
public:
  std::string                        Path;
  std::map<std::string, std::string> Keys;     ///< unescaped values
  std::map<std::string, std::string> Sections; ///< name -> bytes

  bool
  Has(const std::string & key) const
  {
    return Keys.count(key) > 0;
  }
  /** The value; throws naming the key when the header lacks it. */
  const std::string &
  Get(const std::string & key) const;
  double
  Number(const std::string & key) const;
  /** A non-negative integer below 1e9. */
  unsigned int
  Count(const std::string & key) const;
  /** The whole value as an unsigned 64-bit integer. */
  uint64_t
  Unsigned64(const std::string & key) const;
  /** A section that must be there. */
  const std::string &
  Section(const std::string & name) const;
};

/** The bytes of a file: header lines (values escaped here), the sections' sizes and checksums, the
 * header checksum, end_header, then the sections. Parse() of them gives `header` and `sections` back. */
std::string
Format(const Kind & kind, const std::vector<std::pair<std::string, std::string>> & header,
       const std::vector<std::pair<std::string, std::string>> & sections);

/** Writes Format()'s bytes atomically. */
void
Write(const std::string & path, const Kind & kind, const std::vector<std::pair<std::string, std::string>> & header,
      const std::vector<std::pair<std::string, std::string>> & sections);

/** Reads a file of the given kind. `sections` lists the possible binary
 * sections in file order; one is present when its <name>_bytes key is.
 * `foreignHint(data)` may name what a foreign file is (e.g. "a VQ-VAE model
 * file"), or return "". */
Contents
Read(const std::string & path, const Kind & kind, const std::vector<std::string> & sections,
     const std::function<std::string(const std::string &)> & foreignHint = {});

/** Read() of bytes already in memory: `data` is the whole file, `path` names it in messages.
 * Throws itk::ExceptionObject for anything but a well-formed file of `kind`. */
Contents
Parse(const std::string & data, const std::string & path, const Kind & kind, const std::vector<std::string> & sections,
      const std::function<std::string(const std::string &)> & foreignHint = {});

} // namespace modelfile
} // namespace itk

#endif
