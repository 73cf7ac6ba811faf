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

/** The text of header values, shared by the model files (VQ-VAE, prior): numbers that read back
 * exactly, comma-separated lists, and fields that may hold commas. */

/** A double as text that reads back exactly (17 significant digits). */
std::string
Exact(double value);
/** "0.25,-1.5,..." with 9 significant digits: every float reads back exactly. */
std::string
JoinFloats(const std::vector<float> & values);
/** "1,2,4"; "" for none. */
std::string
JoinCounts(const std::vector<unsigned int> & values);
/** "1,2,4" -> {1, 2, 4}; "" -> {}. False for anything but whole numbers of 1 to 9 digits separated by
 * single commas (values are then unspecified). */
bool
ParseCounts(const std::string & text, std::vector<unsigned int> & values);
/** The whole text, blanks around it aside, as a double; false when it is not a number. */
bool
ParseDouble(const std::string & text, double & value);
/** The text without leading and trailing blanks (space, tab, CR, LF). */
std::string
Trim(const std::string & text);
/** One field of a comma-separated header value: '\\', ',', newline and carriage return backslash-escaped. */
std::string
EscapeField(const std::string & text);
/** A comma-separated header value split at its unescaped commas, each field unescaped (EscapeField's
 * inverse, field by field): "a\,b,c" -> {"a,b", "c"}; "" -> {""}. */
std::vector<std::string>
SplitFields(const std::string & text);
/** Split at every separator, without escapes: "a:b:" -> {"a", "b", ""}. */
std::vector<std::string>
SplitOn(const std::string & text, char separator);

/** What a model file is, for messages. */
struct Kind
{
  std::string  Magic; ///< first word, e.g. ITKSMVQVAE
  unsigned int Version{ 1 };
  std::string  Name;      ///< e.g. "VQ-VAE model file"
  std::string  WrittenBy; ///< e.g. "VQVAEModel::Write (MicrostructureTrainVQVAE)"
  std::string  Retrain;   ///< what to do with a newer version, e.g. "retrain the model"
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
