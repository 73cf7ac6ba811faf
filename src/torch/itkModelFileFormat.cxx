/*=========================================================================
 * The model-file container (itkModelFileFormat.h), without LibTorch.
 *=========================================================================*/
#include "itkModelFileFormat.h"
#include "itkMacro.h"
#include "itkMicrostructureHash.h"
#include "itkMicrostructureIO.h"

#include <iomanip>
#include <limits>
#include <sstream>
#include <string_view>

namespace itk
{
namespace modelfile
{

namespace
{
[[noreturn]] void
Fail(const std::string & message)
{
  ExceptionObject e(__FILE__, __LINE__, message, ITK_LOCATION);
  throw e;
}

std::string
Hex(uint64_t v)
{
  std::ostringstream s;
  s << std::hex << v;
  return s.str();
}

/** Decimal digits only (no sign, space, fraction or exponent), without overflow. */
bool
ParseUnsigned64(const std::string & text, uint64_t & value)
{
  if (text.empty() || text.size() > 20)
    return false;
  uint64_t v = 0;
  for (const char c : text)
  {
    if (c < '0' || c > '9')
      return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10)
      return false;
    v = v * 10 + d;
  }
  value = v;
  return true;
}

/** The last header line before end_header: the checksum of every header byte before it
 * (so an edited header value is damage too). Files written before it existed lack it. */
const std::string HeaderChecksumKey = "header_fnv1a64";

/** The largest model file or checkpoint read: far above any model of this module. */
constexpr std::uintmax_t MaximumFileBytes = std::uintmax_t{ 8 } << 30;

/** Backslash-escapes '\\', newlines, carriage returns and, with `commas`, ','. */
std::string
EscapeText(const std::string & text, bool commas)
{
  std::string out;
  for (const char c : text)
  {
    if (c == '\\')
      out += "\\\\";
    else if (c == ',' && commas)
      out += "\\,";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out;
}
} // namespace

std::string
Escape(const std::string & text)
{
  return EscapeText(text, false);
}

std::string
Unescape(const std::string & text)
{
  std::string out;
  for (size_t i = 0; i < text.size(); ++i)
  {
    if (text[i] == '\\' && i + 1 < text.size())
    {
      const char n = text[++i];
      out += (n == 'n') ? '\n' : (n == 'r') ? '\r' : n;
    }
    else
    {
      out += text[i];
    }
  }
  return out;
}

std::string
Exact(double value)
{
  std::ostringstream s;
  s.precision(17);
  s << value;
  return s.str();
}

std::string
JoinFloats(const std::vector<float> & values)
{
  std::ostringstream s;
  s << std::setprecision(9);
  for (size_t i = 0; i < values.size(); ++i)
    s << (i ? "," : "") << values[i];
  return s.str();
}

std::string
JoinCounts(const std::vector<unsigned int> & values)
{
  std::string s;
  for (const unsigned int v : values)
    s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

bool
ParseCounts(const std::string & text, std::vector<unsigned int> & values)
{
  values.clear();
  std::stringstream s(text);
  std::string       item;
  while (std::getline(s, item, ','))
  {
    // At most 9 digits: std::stoul of a longer one could throw std::out_of_range instead of returning false.
    if (item.empty() || item.size() > 9 || item.find_first_not_of("0123456789") != std::string::npos)
      return false;
    values.push_back(static_cast<unsigned int>(std::stoul(item)));
  }
  return true;
}

bool
ParseDouble(const std::string & text, double & value)
{
  const std::string t = Trim(text);
  if (t.empty())
    return false;
  try
  {
    size_t used = 0;
    value = std::stod(t, &used);
    return used == t.size();
  }
  catch (const std::exception &)
  {
    return false;
  }
}

std::string
Trim(const std::string & text)
{
  const auto b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return {};
  const auto e = text.find_last_not_of(" \t\r\n");
  return text.substr(b, e - b + 1);
}

std::string
EscapeField(const std::string & text)
{
  return EscapeText(text, true);
}

std::vector<std::string>
SplitFields(const std::string & text)
{
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < text.size(); ++i)
  {
    if (text[i] == '\\' && i + 1 < text.size())
    {
      const char n = text[++i];
      fields.back() += (n == 'n') ? '\n' : (n == 'r') ? '\r' : n;
    }
    else if (text[i] == ',')
    {
      fields.emplace_back();
    }
    else
    {
      fields.back() += text[i];
    }
  }
  return fields;
}

std::vector<std::string>
SplitOn(const std::string & text, char separator)
{
  std::vector<std::string> parts(1);
  for (const char c : text)
  {
    if (c == separator)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

const std::string &
Contents::Get(const std::string & key) const
{
  const auto it = Keys.find(key);
  if (it == Keys.end())
    Fail(Path + ": the header lacks \"" + key + "\": the file is damaged or was written by another program");
  return it->second;
}

double
Contents::Number(const std::string & key) const
{
  const std::string & v = Get(key);
  try
  {
    size_t       used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size())
      return d;
  }
  catch (const std::exception &)
  {}
  Fail(Path + ": header value " + key + " = \"" + v + "\" is not a number: the file is damaged");
}

unsigned int
Contents::Count(const std::string & key) const
{
  uint64_t u = 0;
  if (!ParseUnsigned64(Get(key), u) || u > 1000000000u)
    Fail(Path + ": header value " + key + " = \"" + Get(key).substr(0, 40) +
         "\" is not a count: the file is damaged; write it again");
  return static_cast<unsigned int>(u);
}

uint64_t
Contents::Unsigned64(const std::string & key) const
{
  uint64_t u = 0;
  if (!ParseUnsigned64(Get(key), u))
    Fail(Path + ": header value " + key + " = \"" + Get(key).substr(0, 40) +
         "\" is not an unsigned integer: the file is damaged; write it again");
  return u;
}

const std::string &
Contents::Section(const std::string & name) const
{
  const auto it = Sections.find(name);
  if (it == Sections.end())
    Fail(Path + ": the file has no " + name + " section: it is damaged or was written by another program");
  return it->second;
}

std::string
Format(const Kind & kind, const std::vector<std::pair<std::string, std::string>> & header,
       const std::vector<std::pair<std::string, std::string>> & sections)
{
  std::ostringstream text;
  text << kind.Magic << ' ' << kind.Version << '\n';
  for (const auto & kv : header)
    text << kv.first << " = " << Escape(kv.second) << '\n';
  for (const auto & s : sections)
  {
    text << s.first << "_bytes = " << s.second.size() << '\n'
         << s.first << "_fnv1a64 = " << Hex(MicrostructureHash(s.second)) << '\n';
  }
  const std::string headerText = text.str();
  text << HeaderChecksumKey << " = " << Hex(MicrostructureHash(headerText)) << '\n';
  text << "end_header\n";

  std::string bytes = text.str();
  std::size_t total = bytes.size();
  for (const auto & s : sections)
    total += s.second.size();
  bytes.reserve(total);
  for (const auto & s : sections)
    bytes += s.second;
  return bytes;
}

void
Write(const std::string & path, const Kind & kind, const std::vector<std::pair<std::string, std::string>> & header,
      const std::vector<std::pair<std::string, std::string>> & sections)
{
  // Temporary file, every write checked, size checked, fsync, rename: a full disk leaves an old file as it was.
  WriteTextFileAtomically(path, Format(kind, header, sections));
}

Contents
Read(const std::string & path, const Kind & kind, const std::vector<std::string> & sections,
     const std::function<std::string(const std::string &)> & foreignHint)
{
  return Parse(ReadRegularFile(path, MaximumFileBytes, kind.Name), path, kind, sections, foreignHint);
}

Contents
Parse(const std::string & data, const std::string & path, const Kind & kind, const std::vector<std::string> & sections,
      const std::function<std::string(const std::string &)> & foreignHint)
{
  const std::string & magic = kind.Magic;
  if (data.compare(0, magic.size(), magic) != 0)
  {
    const std::string hint = foreignHint ? foreignHint(data) : std::string();
    Fail(path + " is not a " + kind.Name + " of ITKStochasticMicrostructure (it does not begin with " + magic +
         (hint.empty() ? "" : "; it is " + hint) + "): give a file written by " + kind.WrittenBy);
  }
  Contents c;
  c.Path = path;
  size_t pos = 0;
  size_t checksumLine = std::string::npos; // where the header checksum's line begins
  bool   first = true, ended = false;
  while (pos < data.size())
  {
    const size_t eol = data.find('\n', pos);
    if (eol == std::string::npos)
      break;
    const std::string line = data.substr(pos, eol - pos);
    const size_t      lineStart = pos;
    pos = eol + 1;
    if (first)
    {
      first = false;
      std::istringstream s(line.substr(magic.size()));
      unsigned int       version = 0;
      std::string        rest;
      if (line.size() <= magic.size() || line[magic.size()] != ' ' || !(s >> version) || (s >> rest))
        Fail(path + ": the first line \"" + line.substr(0, 40) + "\" has no format version: the file is damaged");
      if (version != kind.Version)
        Fail(path + " is a " + kind.Name + " of format version " + std::to_string(version) +
             ", which this build cannot read (it reads version " + std::to_string(kind.Version) +
             "): use the ITKStochasticMicrostructure version that wrote it, or " + kind.Retrain);
      continue;
    }
    if (line == "end_header")
    {
      ended = true;
      break;
    }
    if (checksumLine != std::string::npos)
      Fail(path + ": the header has lines after its checksum: the file is damaged; write it again");
    const size_t eq = line.find(" = ");
    if (eq == std::string::npos)
      Fail(path + ": header line \"" + line.substr(0, 60) + "\" is not 'key = value': the file is damaged");
    const std::string key = line.substr(0, eq);
    if (c.Keys.count(key))
      Fail(path + ": the header has \"" + key + "\" twice: the file is damaged; write it again");
    if (key == HeaderChecksumKey)
      checksumLine = lineStart;
    c.Keys[key] = Unescape(line.substr(eq + 3));
  }
  if (!ended)
    Fail(path + ": the header has no end_header line: the file is truncated or damaged");
  if (checksumLine != std::string::npos &&
      Hex(MicrostructureHash(std::string_view(data.data(), checksumLine))) != c.Get(HeaderChecksumKey))
    Fail(path + ": the header's checksum does not match its text (a header value was edited or damaged): "
                "write the file again (or retrain), do not edit it by hand");
  c.Keys.erase(HeaderChecksumKey);

  // Section sizes: unsigned integers, each within the bytes still left in the file.
  std::vector<std::pair<std::string, uint64_t>> sizes;
  uint64_t                                      left = data.size() - pos;
  for (const auto & name : sections)
  {
    if (!c.Has(name + "_bytes"))
      continue;
    const uint64_t size = c.Unsigned64(name + "_bytes");
    if (size > left)
      Fail(path + ": the header announces " + std::to_string(size) + " bytes of " + name + " where only " +
           std::to_string(left) + " bytes are left in the file: the file is truncated or damaged; write it again");
    left -= size;
    sizes.emplace_back(name, size);
  }
  if (left != 0)
    Fail(path + " holds " + std::to_string(left) +
         " bytes more after its header than the header announces: the file "
         "is damaged; write it again");
  for (const auto & [name, size] : sizes)
  {
    if (Hex(MicrostructureHash(std::string_view(data.data() + pos, size))) != c.Get(name + "_fnv1a64"))
      Fail(path + ": the " + name +
           " section's checksum does not match the header: the file is damaged; write it again");
    c.Sections[name] = data.substr(pos, size);
    pos += size;
  }
  return c;
}

} // namespace modelfile
} // namespace itk
