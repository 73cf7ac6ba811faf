/*=========================================================================
 *  ITKStochasticMicrostructure: the Slicer command-line module contract.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "itkImageIOFactory.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureText.h"
#include "itkMultiThreaderBase.h"

#include <algorithm>
#include <cstdlib>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace sm
{
namespace cli
{
namespace
{
bool
IsFileTag(const std::string & tag)
{
  return tag == "file" || tag == "image" || tag == "directory" || tag == "table" || tag == "transform";
}

/** An output scalar: Slicer reads it from --returnparameterfile only when it has neither flag nor
 * index. */
bool
IsResult(const Parameter & p)
{
  return p.channel == "output" && !IsFileTag(p.tag) && p.index < 0;
}

/** The maximum of a constrained number: its own, else the common one of parameters that several
 * CLIs share by name (so Slicer draws a usable slider, not one to 2e7), else none. Integer maxima stay
 * below 1e6, where Slicer's %g prints them exactly. */
std::string
Maximum(const Parameter & p)
{
  if (!p.maximum.empty() || p.minimum.empty())
  {
    return p.maximum;
  }
  static const std::map<std::string, std::string> common = {
    { "epochs", "10000" },
    { "steps", "999999" },
    { "batchSize", "4096" },
    { "checkpointInterval", "100000" },
    { "validationPatches", "100000" },
    { "samples", "100000" },
    { "layers", "64" },
    { "hiddenChannels", "4096" },
    { "embeddingDimension", "4096" },
    { "outputHiddenChannels", "4096" },
    { "firstKernelSize", "31" },
    { "kernelSize", "31" },
  };
  const auto it = common.find(p.name);
  return it == common.end() ? "" : it->second;
}

/** A whole number 0..2^64-1 written with digits only. */
bool
ParseSeed(const std::string & s, std::uint64_t & v)
{
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && s[0] != '-' && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::vector<std::string>
SplitCommas(const std::string & s)
{
  std::vector<std::string> out;
  std::string              cur;
  for (char c : s)
  {
    if (c == ',')
    {
      out.push_back(cur);
      cur.clear();
    }
    else
    {
      cur += c;
    }
  }
  if (!cur.empty() || !out.empty())
  {
    out.push_back(cur);
  }
  return out;
}

bool
ParseDouble(const std::string & s, double & v)
{
  const char * b = s.data();
  const char * e = s.data() + s.size();
  if (b < e && *b == '+')
  {
    ++b;
  }
  auto r = std::from_chars(b, e, v);
  return r.ec == std::errc() && r.ptr == e && b != e;
}

class UsageError : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};
} // namespace

Module::Module(std::string title, std::string category, std::string description, std::string version)
  : m_Title(std::move(title))
  , m_Category(std::move(category))
  , m_Description(std::move(description))
  , m_Version(std::move(version))
{}

Module &
Module::Group(const std::string & label, const std::string & description)
{
  m_Groups.push_back({ label, description, {} });
  return *this;
}

Parameter &
Module::Add(const std::string & tag, const std::string & name, const std::string & longflag,
            const std::string & defaultValue, const std::string & label, const std::string & description)
{
  if (m_Groups.empty())
  {
    Group("Parameters");
  }
  Parameter p;
  p.tag = tag;
  p.name = name;
  p.longflag = longflag;
  p.defaultValue = defaultValue;
  p.label = label;
  p.description = description;
  if (IsFileTag(tag))
  {
    p.channel = "input";
  }
  m_Groups.back().params.push_back(p);
  m_Values[name] = defaultValue;
  return m_Groups.back().params.back();
}

Parameter &
Module::AddPositional(const std::string & tag, const std::string & name, int index, const std::string & channel,
                      const std::string & label, const std::string & description)
{
  Parameter & p = Add(tag, name, "", "", label, description);
  p.index = index;
  p.channel = channel;
  p.required = true;
  return p;
}

Parameter &
Module::AddSeed(const std::string & name, const std::string & defaultValue, const std::string & label,
                const std::string & description)
{
  Parameter & p = Add("string", name, name, defaultValue, label, description);
  p.seed = true;
  return p;
}

std::string
Module::XML() const
{
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<executable>\n"
    << "  <category>" << itk::EscapeXml(m_Category) << "</category>\n"
    << "  <title>" << itk::EscapeXml(m_Title) << "</title>\n"
    << "  <description><![CDATA[" << m_Description << "]]></description>\n"
    << "  <version>" << itk::EscapeXml(m_Version) << "</version>\n"
    << "  "
       "<documentation-url>https://github.com/InsightSoftwareConsortium/ITKStochasticMicrostructure</"
       "documentation-url>\n"
    << "  <license>Apache 2.0</license>\n"
    << "  <contributor>ITKStochasticMicrostructure developers</contributor>\n"
    << "  <acknowledgements><![CDATA[Method: R. Noguchi and J. Inoue, Phys. Rev. E 104, 025302 "
       "(2021).]]></acknowledgements>\n";
  for (const auto & g : m_Groups)
  {
    x << "  <parameters>\n    <label>" << itk::EscapeXml(g.label) << "</label>\n    <description><![CDATA["
      << (g.description.empty() ? g.label : g.description) << "]]></description>\n";
    for (const auto & p : g.params)
    {
      x << "    <" << p.tag;
      // Slicer hands a table over as .tsv unless the parameter names its extensions.
      const std::string extensions = !p.fileExtensions.empty() ? p.fileExtensions : p.tag == "table" ? ".csv" : "";
      if (!extensions.empty())
      {
        x << " fileExtensions=\"" << itk::EscapeXml(extensions) << "\"";
      }
      x << ">\n      <name>" << itk::EscapeXml(p.name) << "</name>\n";
      if (p.index >= 0)
      {
        x << "      <index>" << p.index << "</index>\n";
      }
      else if (!IsResult(p))
      {
        if (!p.flag.empty())
        {
          x << "      <flag>-" << itk::EscapeXml(p.flag) << "</flag>\n";
        }
        x << "      <longflag>--" << itk::EscapeXml(p.longflag) << "</longflag>\n";
      }
      x << "      <label>" << itk::EscapeXml(p.label) << "</label>\n"
        << "      <description><![CDATA[" << p.description << "]]></description>\n";
      if (!p.channel.empty())
      {
        x << "      <channel>" << p.channel << "</channel>\n";
      }
      if (!p.defaultValue.empty())
      {
        x << "      <default>" << itk::EscapeXml(p.defaultValue) << "</default>\n";
      }
      for (const auto & e : p.elements)
      {
        x << "      <element>" << itk::EscapeXml(e) << "</element>\n";
      }
      const std::string maximum = Maximum(p);
      if (!p.minimum.empty() || !maximum.empty())
      {
        x << "      <constraints>\n";
        if (!p.minimum.empty())
        {
          x << "        <minimum>" << p.minimum << "</minimum>\n";
        }
        if (!maximum.empty())
        {
          x << "        <maximum>" << maximum << "</maximum>\n";
        }
        const std::string step = !p.step.empty() ? p.step : p.tag == "integer" ? "1" : "";
        if (!step.empty())
        {
          x << "        <step>" << step << "</step>\n";
        }
        x << "      </constraints>\n";
      }
      x << "    </" << p.tag << ">\n";
    }
    x << "  </parameters>\n";
  }
  x << "</executable>\n";
  return x.str();
}

std::string
Module::Help(const std::string & program) const
{
  std::ostringstream h;
  h << m_Title << " (" << m_Version << ")\n\n" << m_Description << "\n\nUsage: " << program << " [options]";
  std::vector<const Parameter *> positional;
  for (const auto & g : m_Groups)
  {
    for (const auto & p : g.params)
    {
      if (p.index >= 0)
      {
        positional.push_back(&p);
      }
    }
  }
  std::sort(positional.begin(), positional.end(), [](auto a, auto b) { return a->index < b->index; });
  for (auto p : positional)
  {
    h << " <" << p->name << ">";
  }
  h << "\n";
  for (auto p : positional)
  {
    h << "  <" << p->name << ">  " << p->description << "\n";
  }
  for (const auto & g : m_Groups)
  {
    h << "\n" << g.label << ":\n";
    for (const auto & p : g.params)
    {
      if (p.index >= 0)
      {
        continue;
      }
      if (IsResult(p))
      {
        h << "  " << p.name << " (result, written to --returnparameterfile)"
          << (p.description.empty() ? "" : ": " + p.description) << "\n";
        continue;
      }
      h << "  --" << p.longflag;
      if (!p.flag.empty())
      {
        h << ", -" << p.flag;
      }
      if (p.tag != "boolean")
      {
        h << " <" << (p.seed ? "integer" : p.tag) << ">";
      }
      h << "\n      " << p.description;
      if (!p.elements.empty())
      {
        h << " One of:";
        for (const auto & e : p.elements)
        {
          h << " " << e;
        }
        h << ".";
      }
      if (!p.defaultValue.empty())
      {
        h << " (default: " << p.defaultValue << ")";
      }
      h << "\n";
    }
  }
  h << "\nCommon:\n  --xml  print the Slicer Execution Model description\n"
       "  --returnparameterfile <file>  write output scalars as 'name = value' lines\n"
       "  --threads <n>  worker threads (default: all cores; ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS, else "
       "OMP_NUM_THREADS, also works)\n"
       "  --help\n";
  return h.str();
}

const Parameter &
Module::Find(const std::string & name) const
{
  for (const auto & g : m_Groups)
  {
    for (const auto & p : g.params)
    {
      if (p.name == name)
      {
        return p;
      }
    }
  }
  throw std::logic_error("CLI parameter '" + name + "' is not declared");
}

int
Module::Parse(int argc, char * argv[])
{
  const std::string program = argc > 0 ? argv[0] : m_Title;
  for (int i = 1; i < argc; ++i)
  {
    const std::string a = argv[i];
    if (a == "--xml")
    {
      std::cout << XML() << std::flush;
      return 0;
    }
    if (a == "--help" || a == "-h")
    {
      std::cout << Help(program) << std::flush;
      return 0;
    }
  }
  try
  {
    // OMP_NUM_THREADS, as LibTorch programs honour it (torchrun sets 1 for each of several processes
    // on a machine), when ITK's own variable is not set; --threads overrides both.
    const char * omp = std::getenv("OMP_NUM_THREADS");
    double       ompThreads = 0;
    if (omp && !std::getenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS") && ParseDouble(omp, ompThreads) &&
        ompThreads >= 1 && ompThreads == std::floor(ompThreads))
      itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(static_cast<int>(ompThreads));
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i)
    {
      std::string a = argv[i];
      if (a.size() < 2 || a[0] != '-' || (a[1] != '-' && !std::isalpha(static_cast<unsigned char>(a[1]))))
      {
        positional.push_back(a);
        continue;
      }
      std::string value;
      bool        hasValue = false;
      const auto  eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos)
      {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        hasValue = true;
      }
      if (a == "--returnparameterfile" || a == "--threads")
      {
        if (!hasValue)
        {
          if (i + 1 >= argc)
          {
            throw UsageError(a + " needs a value");
          }
          value = argv[++i];
        }
        if (a == "--threads")
        {
          double n = 0;
          if (!ParseDouble(value, n) || n < 1 || n != std::floor(n))
          {
            throw UsageError("--threads needs a whole number >= 1, not '" + value + "'");
          }
          itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(static_cast<int>(n));
        }
        else
        {
          m_ReturnFile = value;
        }
        continue;
      }
      const Parameter * found = nullptr;
      for (const auto & g : m_Groups)
      {
        for (const auto & p : g.params)
        {
          if (p.index < 0 && !IsResult(p) && (a == "--" + p.longflag || (!p.flag.empty() && a == "-" + p.flag)))
          {
            found = &p;
          }
        }
      }
      if (!found)
      {
        for (const auto & g : m_Groups)
        {
          for (const auto & p : g.params)
          {
            if (IsResult(p) && a == "--" + p.name)
            {
              throw UsageError(a + " is a result, not an option: give --returnparameterfile FILE and read '" + p.name +
                               " = value' there");
            }
          }
        }
        throw UsageError("unknown option '" + a + "' (see --help)");
      }
      if (found->tag == "boolean")
      {
        if (hasValue)
        {
          if (value != "true" && value != "false" && value != "1" && value != "0")
          {
            throw UsageError(a + " takes true or false, not '" + value + "'");
          }
          m_Values[found->name] = (value == "true" || value == "1") ? "true" : "false";
        }
        else
        {
          m_Values[found->name] = "true";
        }
        m_Given[found->name] = true;
        continue;
      }
      if (!hasValue)
      {
        if (i + 1 >= argc)
        {
          throw UsageError(a + " needs a value");
        }
        value = argv[++i];
      }
      m_Values[found->name] = value;
      m_Given[found->name] = true;
    }
    // Positional arguments, by index.
    std::vector<const Parameter *> pos;
    for (const auto & g : m_Groups)
    {
      for (const auto & p : g.params)
      {
        if (p.index >= 0)
        {
          pos.push_back(&p);
        }
      }
    }
    std::sort(pos.begin(), pos.end(), [](auto a, auto b) { return a->index < b->index; });
    if (positional.size() > pos.size())
    {
      throw UsageError("too many arguments: '" + positional[pos.size()] + "' is not expected (see --help)");
    }
    for (std::size_t k = 0; k < pos.size(); ++k)
    {
      if (k < positional.size())
      {
        m_Values[pos[k]->name] = positional[k];
        m_Given[pos[k]->name] = true;
      }
      else if (pos[k]->required)
      {
        throw UsageError("missing argument <" + pos[k]->name + ">: " + pos[k]->description);
      }
    }
    // Validate values against their types.
    for (const auto & g : m_Groups)
    {
      for (const auto & p : g.params)
      {
        const std::string & v = m_Values[p.name];
        if (v.empty())
        {
          continue;
        }
        const std::string flagName = p.index >= 0 ? "<" + p.name + ">" : "--" + p.longflag;
        std::uint64_t     seed = 0;
        if (p.seed && !ParseSeed(v, seed))
        {
          throw UsageError(flagName + " needs a whole number from 0 to 18446744073709551615, not '" + v + "'");
        }
        if (p.tag == "integer" || p.tag == "float" || p.tag == "double")
        {
          double d = 0;
          if (!ParseDouble(v, d) || (p.tag == "integer" && d != std::floor(d)))
          {
            throw UsageError(flagName + " needs " + (p.tag == "integer" ? "a whole number" : "a number") + ", not '" +
                             v + "'");
          }
          // Written so that NaN fails a bound too (every comparison with NaN is false).
          double lim = 0;
          if (!p.minimum.empty() && ParseDouble(p.minimum, lim) && !(d >= lim))
          {
            throw UsageError(flagName + " must be at least " + p.minimum + ", not " + v);
          }
          if (!Maximum(p).empty() && ParseDouble(Maximum(p), lim) && !(d <= lim))
          {
            throw UsageError(flagName + " must be at most " + Maximum(p) + ", not " + v);
          }
        }
        else if (p.tag == "integer-vector" || p.tag == "float-vector" || p.tag == "double-vector")
        {
          for (const auto & item : SplitCommas(v))
          {
            double d = 0;
            if (!ParseDouble(item, d))
            {
              throw UsageError(flagName + " needs comma-separated numbers, not '" + v + "'");
            }
          }
        }
        else if (p.tag == "string-enumeration")
        {
          if (std::find(p.elements.begin(), p.elements.end(), v) == p.elements.end())
          {
            std::string opts;
            for (const auto & e : p.elements)
            {
              opts += (opts.empty() ? "" : ", ") + e;
            }
            throw UsageError(flagName + " must be one of " + opts + ", not '" + v + "'");
          }
        }
      }
    }
  }
  catch (const UsageError & e)
  {
    std::cerr << m_Title << ": " << e.what() << std::endl;
    return 2;
  }
  return -1;
}

bool
Module::IsSet(const std::string & name) const
{
  Find(name);
  auto it = m_Given.find(name);
  return it != m_Given.end() && it->second;
}

const std::string &
Module::Get(const std::string & name) const
{
  Find(name);
  return m_Values.at(name);
}

double
Module::GetDouble(const std::string & name) const
{
  double v = 0;
  if (!ParseDouble(Get(name), v))
  {
    throw std::invalid_argument("'" + Get(name) + "' given for " + name + " is not a number");
  }
  return v;
}

long long
Module::GetInt(const std::string & name) const
{
  // Whole numbers directly (exact beyond 2^53, e.g. seeds); a value like "1e3" through double.
  const std::string & s = Get(name);
  long long           v = 0;
  const char *        b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  const auto          r = std::from_chars(b, s.data() + s.size(), v);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size())
  {
    return v;
  }
  return static_cast<long long>(std::llround(GetDouble(name)));
}

bool
Module::GetBool(const std::string & name) const
{
  return Get(name) == "true" || Get(name) == "1";
}

std::uint64_t
Module::GetSeed(const std::string & name) const
{
  std::uint64_t v = 0;
  if (!Find(name).seed || !ParseSeed(Get(name), v))
  {
    throw std::invalid_argument("'" + Get(name) + "' given for " + name + " is not a seed (a whole number >= 0)");
  }
  return v;
}

std::vector<std::string>
Module::GetList(const std::string & name) const
{
  return SplitCommas(Get(name));
}

std::vector<double>
Module::GetDoubleList(const std::string & name) const
{
  std::vector<double> out;
  for (const auto & s : GetList(name))
  {
    double v = 0;
    if (!ParseDouble(s, v))
    {
      throw std::invalid_argument("'" + s + "' in " + name + " is not a number");
    }
    out.push_back(v);
  }
  return out;
}

void
Module::SetReturn(const std::string & name, const std::string & value)
{
  m_Returns.emplace_back(name, value);
}

void
Module::Finish() const
{
  if (m_ReturnFile.empty())
  {
    return;
  }
  std::ostringstream os;
  for (const auto & r : m_Returns)
  {
    os << r.first << " = " << r.second << "\n";
  }
  itk::WriteTextFileAtomically(m_ReturnFile, os.str());
}

// ---------------------------------------------------------------------------
Progress::Progress(std::string name, std::string comment)
  : m_Name(std::move(name))
  , m_Start(std::chrono::steady_clock::now())
  , m_LastPrint(m_Start)
  , m_Tty(::isatty(2) != 0)
  , m_Tags(::isatty(1) == 0)
{
  if (!m_Tags)
  {
    return;
  }
  std::cout << "<filter-start>\n<filter-name>" << itk::EscapeXml(m_Name) << "</filter-name>\n<filter-comment>"
            << itk::EscapeXml(comment) << "</filter-comment>\n</filter-start>" << std::endl;
}

Progress::~Progress()
{
  // Reached without End() only when the work failed: close the bar without
  // claiming completion.
  if (!m_Ended && m_Tty)
  {
    std::fprintf(stderr, "\n");
  }
}

namespace
{
std::string
FormatSeconds(double s)
{
  char buf[32];
  if (!std::isfinite(s) || s < 0)
  {
    return "--:--";
  }
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
  {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  }
  else
  {
    std::snprintf(buf, sizeof(buf), "%02ld:%02ld", t / 60, t % 60);
  }
  return buf;
}
} // namespace

void
Progress::Update(double fraction)
{
  if (m_Ended)
  {
    return;
  }
  fraction = std::min(1.0, std::max(0.0, fraction));
  if (fraction == m_LastFraction)
  {
    return;
  }
  const auto   now = std::chrono::steady_clock::now();
  const double sinceLast = std::chrono::duration<double>(now - m_LastPrint).count();
  if (fraction < 1.0 && fraction - m_LastFraction < 0.01 && sinceLast < 0.5)
  {
    return;
  }
  m_LastFraction = fraction;
  m_LastPrint = now;
  if (m_Tags)
  {
    std::cout << "<filter-progress>" << fraction << "</filter-progress>" << std::endl;
  }
  const double elapsed = std::chrono::duration<double>(now - m_Start).count();
  const double eta = fraction > 1e-6 ? elapsed * (1.0 - fraction) / fraction : -1.0;
  if (m_Tty)
  {
    const int   width = 30;
    const int   filled = static_cast<int>(fraction * width);
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr,
                 "\r%s [%s] %5.1f%%  elapsed %s  ETA %s ",
                 m_Name.c_str(),
                 bar.c_str(),
                 100 * fraction,
                 FormatSeconds(elapsed).c_str(),
                 FormatSeconds(eta).c_str());
    std::fflush(stderr);
  }
  else
  {
    const int decile = static_cast<int>(fraction * 10);
    if (decile > m_LastDecile)
    {
      m_LastDecile = decile;
      std::fprintf(stderr,
                   "%s: %3d%%  elapsed %s  ETA %s\n",
                   m_Name.c_str(),
                   decile * 10,
                   FormatSeconds(elapsed).c_str(),
                   FormatSeconds(eta).c_str());
    }
  }
}

void
Progress::End()
{
  if (m_Ended)
  {
    return;
  }
  Update(1.0);
  m_Ended = true;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_Start).count();
  if (m_Tty)
  {
    std::fprintf(stderr, "\n");
  }
  if (m_Tags)
  {
    std::cout << "<filter-end>\n<filter-name>" << itk::EscapeXml(m_Name) << "</filter-name>\n<filter-time>" << elapsed
              << "</filter-time>\n</filter-end>" << std::endl;
  }
}

void
Progress::Observe(itk::ProcessObject * filter, double start, double span)
{
  auto cmd = itk::FunctionCommand::New();
  cmd->SetCallback(
    [this, filter, start, span](const itk::EventObject &) { Update(start + span * filter->GetProgress()); });
  filter->AddObserver(itk::ProgressEvent(), cmd);
}

bool
IsImageStack(const std::string & path)
{
  auto io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
  if (!io)
  {
    throw std::invalid_argument("cannot read '" + path +
                                "': it does not exist or is not an image format ITK knows (PNG, TIFF, NRRD, MHA)");
  }
  io->SetFileName(path);
  io->ReadImageInformation();
  if (io->GetNumberOfDimensions() > 3)
  {
    throw std::invalid_argument("'" + path + "' has " + std::to_string(io->GetNumberOfDimensions()) +
                                " dimensions; give a 2D image or a 3D stack");
  }
  return io->GetNumberOfDimensions() == 3 && io->GetDimensions(2) > 1;
}

int
Run(Module & module, int argc, char * argv[], const std::function<int(Module &)> & body)
{
  const int parsed = module.Parse(argc, argv);
  if (parsed >= 0)
  {
    return parsed;
  }
  // Past a file-size limit (ulimit -f), a write fails with EFBIG and is reported
  // (the old output kept) instead of the signal killing the program mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  try
  {
    const int rc = body(module);
    if (rc == 0)
    {
      module.Finish();
    }
    return rc;
  }
  catch (const itk::ExceptionObject & e)
  {
    std::cerr << module.GetTitle() << ": error: " << e.GetDescription() << std::endl;
  }
  catch (const std::exception & e)
  {
    std::cerr << module.GetTitle() << ": error: " << e.what() << std::endl;
  }
  return 1;
}

RowExclusion::RowExclusion(const std::vector<std::string> & items, const itk::MicrostructureTable & table)
{
  for (const auto & item : items)
  {
    std::vector<std::pair<std::string, std::string>> all;
    std::stringstream                                parts(item);
    std::string                                      part;
    while (std::getline(parts, part, ';'))
    {
      const size_t eq = part.find('=');
      if (eq == std::string::npos || eq == 0 || !table.HasColumn(part.substr(0, eq)))
        throw std::invalid_argument("--exclude " + item +
                                    ": write column=value (or column=value;column2=value2) with columns of the table");
      all.push_back({ part.substr(0, eq), part.substr(eq + 1) });
    }
    if (!all.empty())
      m_Conditions.push_back(all);
  }
}

bool
RowExclusion::Excludes(const itk::MicrostructureTable & table, std::size_t row) const
{
  for (const auto & all : m_Conditions)
  {
    bool match = true;
    for (const auto & [column, value] : all)
      match = match && table.Get(row, column) == value;
    if (match)
      return true;
  }
  return false;
}

std::string
RowExclusion::Describe() const
{
  std::string s;
  for (const auto & all : m_Conditions)
  {
    s += s.empty() ? "" : ", ";
    for (size_t i = 0; i < all.size(); ++i)
      s += (i ? ";" : "") + all[i].first + "=" + all[i].second;
  }
  return s;
}

void
CheckResumedArchitecture(const Module & module, const std::string & checkpoint,
                         const std::vector<std::pair<std::string, std::string>> & architecture)
{
  for (const auto & [name, value] : architecture)
  {
    std::string given = module.Get(name);
    given.erase(std::remove(given.begin(), given.end(), ' '), given.end());
    if (module.IsSet(name) && given != value)
      throw std::invalid_argument("--" + name + " " + module.Get(name) + " differs from the checkpoint " + checkpoint +
                                  " (" + value +
                                  "): a resumed run keeps its network; resume with the checkpoint's "
                                  "setting, or start anew without --resume");
  }
}

} // namespace cli
} // namespace sm
