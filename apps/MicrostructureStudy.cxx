/*=========================================================================
 *  MicrostructureStudy (`study`): the experiment of Noguchi & Inoue,
 *  Phys. Rev. E 104, 025302 (2021), end to end, with held-out validation:
 *  micrographs (the synthetic default or a CSV of real ones) -> patches ->
 *  VQ-VAE -> conditional PixelCNN prior -> generated patches for every
 *  training condition, a held-out one and unseen ones -> measurement of the
 *  real, reconstructed and generated sets -> comparison -> report.
 *
 *  Every step runs one of the module's CLIs (the same programs a user or
 *  Slicer runs) with its log in <out>/logs; a step whose command and inputs
 *  are unchanged is not run again (stamps in <out>/.stamps), so a re-run with
 *  a changed report setting does not retrain, and a killed training resumes
 *  from its checkpoint.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "itkDataParallel.h"
#include "MicrostructureStudyAnalysis.h"
#include "MicrostructureStudyConfig.h"
#include "MicrostructureStudyPresets.h"
#include "itkCPUInstructionSet.h"
#include "itkMicrostructureHash.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureTable.h"
#include "itkVQVAEModel.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <tuple>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <csignal>
#include <cstring>
#include <cerrno>
#include <functional>

namespace
{
using sm::cli::Module;
using nlohmann::json;
namespace fs = std::filesystem;

using sm::study::Merge;
using sm::study::Preset;

std::string
Quote(const std::string & s)
{
  std::string q = "'";
  for (const char c : s)
    q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string
JoinNumbers(const json & array)
{
  std::string s;
  for (const auto & v : array)
  {
    std::ostringstream o;
    o << v.get<double>();
    s += (s.empty() ? "" : ",") + o.str();
  }
  return s;
}

std::string
JoinStrings(const json & array)
{
  std::string s;
  for (const auto & v : array)
    s += (s.empty() ? "" : ",") + v.get<std::string>();
  return s;
}

/** Runs program with args, without a shell: its standard output read line by line by onLine, its
 * standard error written to log. The child dies with the study (PR_SET_PDEATHSIG: a killed study
 * leaves no training running). Returns the wait status. */
int
RunChild(const std::string & program, const std::vector<std::string> & args, const std::string & log,
         const std::function<void(const std::string &)> & onLine,
         const std::map<std::string, std::string> &       environment = {})
{
  std::vector<char *> argv{ const_cast<char *>(program.c_str()) };
  for (const auto & a : args)
    argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  // The child's environment: the study's, with `environment`'s variables set (an empty value unsets
  // one). Made here, before fork: the child of a threaded process may only exec.
  std::vector<std::string> variables;
  for (char ** e = environ; e && *e; ++e)
  {
    const std::string entry(*e);
    if (!environment.count(entry.substr(0, entry.find('='))))
      variables.push_back(entry);
  }
  for (const auto & [name, value] : environment)
    if (!value.empty())
      variables.push_back(name + "=" + value);
  std::vector<char *> envp;
  for (auto & v : variables)
    envp.push_back(v.data());
  envp.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(errno));
  const int logFd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (logFd < 0)
  {
    close(out[0]);
    close(out[1]);
    throw std::runtime_error("cannot write the log " + log + ": " + std::strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0)
  {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) // the study died before the line above
      _exit(127);
    dup2(out[1], STDOUT_FILENO);
    dup2(logFd, STDERR_FILENO);
    execve(program.c_str(), argv.data(), envp.data());
    dprintf(STDERR_FILENO, "cannot run %s: %s\n", program.c_str(), std::strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(logFd);
  if (pid < 0)
  {
    close(out[0]);
    throw std::runtime_error("cannot start " + program + ": " + std::strerror(errno));
  }
  FILE * stream = fdopen(out[0], "r");
  char   line[4096];
  while (stream && std::fgets(line, sizeof(line), stream))
    onLine(line);
  if (stream)
    std::fclose(stream);
  else
    close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
  {}
  return status;
}

/** The study as a data-parallel job (started by torchrun, srun or a PyTorchJob: WORLD_SIZE > 1).
 * Rank 0 runs the study; every other rank is a worker that runs its share of each step whose CLI
 * trains or generates as a data-parallel job (MicrostructureTrainVQVAE, MicrostructureTrainPrior,
 * MicrostructureGenerate), as the process of that rank, and waits otherwise. The study's own
 * processes talk over their c10d group (MASTER_PORT). Each such step's CLIs meet at a port rank 0
 * chooses and sends with the step (StepPort: MASTER_PORT + 1 + k for the k-th step when that port is
 * free on rank 0's machine, else the next free one). The workers read and write the study folder
 * through its path on rank 0, so on several machines it must be on a shared file system. */
namespace job
{
/** The study's processes wait for one another through whole steps: a day, not the CLIs' 5 minutes. */
constexpr auto Patience = std::chrono::hours(24);

bool
Distributed(const std::string & program)
{
  return itk::DataParallel::IsActive() &&
         (program == "MicrostructureTrainVQVAE" || program == "MicrostructureTrainPrior" ||
          program == "MicrostructureGenerate");
}

/** The environment of a step's CLI: a distributed step's job meeting at `port`, or none (a CLI of one
 * process, whatever the study was started with). */
std::map<std::string, std::string>
Environment(bool distributed, unsigned int port)
{
  if (!distributed)
    return { { "RANK", "" }, { "WORLD_SIZE", "" }, { "LOCAL_RANK", "" }, { "MASTER_ADDR", "" }, { "MASTER_PORT", "" } };
  const auto s = itk::DataParallel::SettingsFromEnvironment();
  return { { "RANK", std::to_string(s.Rank) },
           { "WORLD_SIZE", std::to_string(s.WorldSize) },
           { "LOCAL_RANK", std::to_string(s.LocalRank) },
           { "MASTER_ADDR", s.MasterAddress },
           { "MASTER_PORT", std::to_string(port) } };
}

/** Whether a TCP port can be listened on here (rank 0's machine, where a step's store listens). */
bool
PortIsFree(unsigned int port)
{
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool free = bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof(address)) == 0;
  close(fd);
  return free;
}

/** Rank 0: the port the k-th distributed step meets at: MASTER_PORT + 1 + k when it is free here, else
 * the next free port after it (never the study's own MASTER_PORT). */
unsigned int
StepPort(unsigned int k)
{
  const unsigned int master = itk::DataParallel::SettingsFromEnvironment().MasterPort;
  for (unsigned int port = master + 1 + k; port <= 65535 && port < master + 1 + k + 1000; ++port)
    if (port != master && PortIsFree(port))
      return port;
  throw std::runtime_error("no free port for the study's distributed step " + std::to_string(k) +
                           " in the 1000 after " + std::to_string(master + 1 + k) +
                           ": start the study with another MASTER_PORT");
}

/** A command from rank 0 to the workers: program, port, log, arguments (NUL-separated); empty: the
 * study is over. */
std::vector<unsigned char>
Command(const std::string & program, unsigned int port, const std::string & log, const std::vector<std::string> & args)
{
  std::string text = program + '\0' + std::to_string(port) + '\0' + log;
  for (const auto & a : args)
    text += '\0' + a;
  return std::vector<unsigned char>(text.begin(), text.end());
}

/** Rank 0's command, on every process (the workers send nothing). */
std::vector<unsigned char>
Broadcast(const std::vector<unsigned char> & command)
{
  return itk::DataParallel::AllGatherBytes(command)[0];
}

/** Every process's exit status of the step, on every process. */
std::vector<int>
Statuses(int status)
{
  const std::string mine = std::to_string(status);
  std::vector<int>  all;
  for (const auto & piece : itk::DataParallel::AllGatherBytes(std::vector<unsigned char>(mine.begin(), mine.end())))
    all.push_back(std::stoi(std::string(piece.begin(), piece.end())));
  return all;
}

/** A worker: runs its share of rank 0's distributed steps until rank 0 says the study is over;
 * returns rank 0's exit status then. */
int
Work(const std::string & binDir)
{
  for (;;)
  {
    const auto               command = Broadcast({});
    std::vector<std::string> fields(1);
    for (const unsigned char c : command)
      if (c == '\0')
        fields.emplace_back();
      else
        fields.back() += static_cast<char>(c);
    if (fields.size() == 2 && fields[0] == "over")
      return std::stoi(fields[1]);
    if (fields.size() < 3)
      throw std::runtime_error("a malformed command from the study's rank 0: start every process of the job alike");
    const std::string              program = fields[0];
    const unsigned int             port = static_cast<unsigned int>(std::stoul(fields[1]));
    const std::string              log = fields[2] + ".rank" + std::to_string(itk::DataParallel::GetRank());
    const std::vector<std::string> args(fields.begin() + 3, fields.end());
    const int                      status = RunChild(
      binDir + "/" + program, args, log, [](const std::string &) {}, Environment(true, port));
    Statuses(status);
  }
}

/** Rank 0: the workers are told the study is over (status 0: done, else failed). */
void
End(int status)
{
  if (!itk::DataParallel::IsActive() || !itk::DataParallel::IsMainProcess())
    return;
  const std::string text = "over" + std::string(1, '\0') + std::to_string(status);
  Broadcast(std::vector<unsigned char>(text.begin(), text.end()));
}
} // namespace job

/** Runs the module's CLIs as steps: progress of each child mapped into the study's bar, logs kept,
 * unchanged steps skipped. */
class Runner
{
public:
  /** Progress f of the study goes to the bar as base + scale f (a study inside a cross-validation
   * takes its share of the bar). */
  Runner(std::string binDir, std::string out, sm::cli::Progress & progress, double base = 0.0, double scale = 1.0)
    : m_Bin(std::move(binDir))
    , m_Out(std::move(out))
    , m_Progress(progress)
    , m_Base(base)
    , m_Scale(scale)
  {
    fs::create_directories(m_Out + "/logs");
    fs::create_directories(m_Out + "/.stamps");
  }

  /** Runs `program args` unless its stamp (command + stamps of `after`) is unchanged and every
   * output exists. Progress [start, start + span]. Returns the step's stamp. `checkpoint`: the
   * step's resumable state; kept when the last attempt had this stamp (a killed run resumes),
   * removed when it had another (changed settings start anew instead of resuming a checkpoint
   * of different settings). */
  std::string
  Step(const std::string & name, const std::string & program, const std::vector<std::string> & args,
       const std::vector<std::string> & outputs, double start, double span, const std::vector<std::string> & after = {},
       const std::string & checkpoint = {})
  {
    // The stamp names the study folder "<study>": a study copied or moved elsewhere is still up to date.
    // --confineReads only refuses (the outputs of a run it lets through are the same): it is not part
    // of the stamp, so studies made before it existed stay up to date.
    std::string key = program;
    for (size_t i = 0; i < args.size(); ++i)
    {
      if (args[i] == "--confineReads" && i + 1 < args.size())
      {
        ++i;
        continue;
      }
      const std::string & a = args[i];
      std::string         relative = a == m_Out ? std::string("<study>") : a;
      const std::string   inside = m_Out + "/";
      for (size_t at = relative.find(inside); at != std::string::npos; at = relative.find(inside, at + 8))
        relative.replace(at, inside.size(), "<study>/");
      key += " " + Quote(relative);
    }
    for (const auto & a : after)
      key += "|" + ReadStamp(a);
    std::ostringstream stampText;
    stampText << std::hex << itk::MicrostructureHash(key);
    const std::string stamp = stampText.str();
    bool              fresh = ReadStamp(name) == stamp;
    for (const auto & o : outputs)
      fresh = fresh && fs::exists(o);
    if (fresh)
    {
      std::cerr << "[study] " << name << ": up to date\n";
      Update(start + span);
      return stamp;
    }
    std::cerr << "[study] " << name << " ..." << std::endl;
    fs::remove(m_Out + "/.stamps/" + name);
    if (!checkpoint.empty())
    {
      if (ReadStamp(name + ".attempt") != stamp && fs::exists(checkpoint))
      {
        std::cerr << "[study] " << name << ": settings changed since " << checkpoint << " was written: starting anew\n";
        fs::remove(checkpoint);
      }
      itk::WriteTextFileAtomically(m_Out + "/.stamps/" + name + ".attempt", stamp + "\n");
    }
    const std::string log = m_Out + "/logs/" + name + ".log";
    const auto        t0 = std::chrono::steady_clock::now();
    const std::string tag = "<filter-progress>";
    // In a data-parallel study the workers run their ranks of this step beside rank 0's.
    const bool          distributed = job::Distributed(program);
    static unsigned int distributedSteps = 0;
    const unsigned int  k = distributed ? distributedSteps++ : 0;
    const unsigned int  port = distributed ? job::StepPort(k) : 0;
    if (distributed)
      job::Broadcast(job::Command(program, port, log, args));
    int status = RunChild(
      m_Bin + "/" + program,
      args,
      log,
      [&](const std::string & l) {
        const size_t p = l.find(tag);
        if (p != std::string::npos)
        {
          const double f = std::atof(l.c_str() + p + tag.size());
          Update(start + span * std::min(1.0, std::max(0.0, f)));
        }
      },
      job::Environment(distributed, port));
    std::string failedLog = log; // the log of the process that failed first (rank order)
    if (distributed)
    {
      const auto statuses = job::Statuses(status);
      for (size_t r = 1; r < statuses.size() && status == 0; ++r)
        if (statuses[r] != 0)
        {
          status = statuses[r];
          failedLog = log + ".rank" + std::to_string(r);
        }
    }
    if (status != 0)
    {
      std::ifstream f(failedLog);
      std::string   text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      const size_t  keep = 1500;
      throw std::runtime_error("step " + name + " failed (" + program + ", exit " +
                               std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "); its log " +
                               failedLog + " ends with:\n" +
                               (text.size() > keep ? text.substr(text.size() - keep) : text));
    }
    itk::WriteTextFileAtomically(m_Out + "/.stamps/" + name, stamp + "\n");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m_Timings.push_back({ name, seconds });
    std::cerr << "[study] " << name << " done in " << std::fixed << std::setprecision(1) << seconds << " s"
              << std::defaultfloat << std::endl;
    Update(start + span);
    return stamp;
  }

  std::string
  ReadStamp(const std::string & name) const
  {
    std::ifstream f(m_Out + "/.stamps/" + name);
    std::string   s;
    std::getline(f, s);
    return s;
  }

  const std::vector<std::pair<std::string, double>> &
  Timings() const
  {
    return m_Timings;
  }

  /** The study's progress f in [0, 1]. */
  void
  Update(double f)
  {
    m_Progress.Update(m_Base + m_Scale * f);
  }

private:
  std::string                                 m_Bin, m_Out;
  sm::cli::Progress &                         m_Progress;
  double                                      m_Base, m_Scale;
  std::vector<std::pair<std::string, double>> m_Timings;
};

/** The directory of the module's CLIs: this executable's, or, when this is the module behind a
 * launcher, the launchers' (SM_CLI_FROM_MODULE relative to it, apps/CMakeLists.txt: ../../bin, or
 * Slicer's cli-modules), through which the CLIs are called. */
std::string
BinDir()
{
  std::error_code ec;
  const auto      self = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    return ".";
#ifdef SM_CLI_FROM_MODULE
  return (self.parent_path() / SM_CLI_FROM_MODULE).lexically_normal().string();
#else
  return self.parent_path().string();
#endif
}

/** Synthetic default: train rates and truth rates (held-out and unseen) synthesized into one
 * micrograph table with distinct sample ids. */
std::vector<std::string>
SyntheticData(Runner & run, const json & s, const std::string & dataDir)
{
  const std::string size = std::to_string(s["size"][0].get<int>()) + "," + std::to_string(s["size"][1].get<int>());
  const std::string spacing = std::to_string(s["pixel_size_um"].get<double>());
  const uint64_t    seed = s["seed"].get<uint64_t>();
  std::vector<std::string> stamps;
  stamps.push_back(run.Step("synthesize-train",
                            "MicrostructureSynthesize",
                            { dataDir + "/train",
                              "--coolingRates",
                              JoinNumbers(s["train_rates"]),
                              "--imagesPerRate",
                              std::to_string(s["images_per_rate"].get<int>()),
                              "--size",
                              size,
                              "--spacing",
                              spacing,
                              "--seed",
                              std::to_string(seed) },
                            { dataDir + "/train/micrographs.csv" },
                            0.0,
                            0.02));
  // The held-out rate (first truth rate) gets holdout_images micrographs (>= 1000 patches), the unseen ones fewer.
  const json & truth = s["truth_rates"];
  if (!truth.empty())
  {
    stamps.push_back(run.Step("synthesize-holdout",
                              "MicrostructureSynthesize",
                              { dataDir + "/holdout",
                                "--coolingRates",
                                JoinNumbers(json::array({ truth[0] })),
                                "--imagesPerRate",
                                std::to_string(s["holdout_images"].get<int>()),
                                "--size",
                                size,
                                "--spacing",
                                spacing,
                                "--seed",
                                std::to_string(seed + 1000) },
                              { dataDir + "/holdout/micrographs.csv" },
                              0.02,
                              0.02));
    if (truth.size() > 1)
    {
      json rest = json::array();
      for (size_t i = 1; i < truth.size(); ++i)
        rest.push_back(truth[i]);
      stamps.push_back(run.Step("synthesize-unseen",
                                "MicrostructureSynthesize",
                                { dataDir + "/unseen",
                                  "--coolingRates",
                                  JoinNumbers(rest),
                                  "--imagesPerRate",
                                  std::to_string(s["truth_images_per_rate"].get<int>()),
                                  "--size",
                                  size,
                                  "--spacing",
                                  spacing,
                                  "--seed",
                                  std::to_string(seed + 2000) },
                                { dataDir + "/unseen/micrographs.csv" },
                                0.04,
                                0.02));
    }
  }
  // One table: file paths relative to dataDir, sample ids prefixed by their group.
  itk::MicrostructureTable all;
  for (const char * group : { "train", "holdout", "unseen" })
  {
    const std::string csv = dataDir + "/" + group + "/micrographs.csv";
    if (!fs::exists(csv))
      continue;
    auto t = itk::MicrostructureTable::Read(csv);
    if (all.GetNumberOfColumns() == 0)
      for (const auto & c : t.GetColumnNames())
        all.AddColumn(c);
    for (size_t r = 0; r < t.GetNumberOfRows(); ++r)
    {
      std::vector<std::string> row;
      for (const auto & c : all.GetColumnNames())
      {
        std::string v = t.Get(r, c);
        if (c == "file" || c == "phase_map")
          v = std::string(group) + "/" + v;
        else if (c == "sample_id" || c == "micrograph_id")
          v = std::string(group) + "-" + v;
        row.push_back(v);
      }
      all.AddRow(row);
    }
  }
  all.Write(dataDir + "/micrographs.csv");
  return stamps;
}

/** Whether the networks will run on a CPU without AVX-512 on `device` ("auto", "cpu", "cuda:N").
 * There LibTorch's convolutions train about 2.6 times slower than with AVX512-BF16 (the demo's
 * VQ-VAE: 238 s against 92 s for 320 steps, measured in sessions 8 and 16), against about 1.3
 * times with AVX-512 but no bfloat16 (float32 against bfloat16 on one AVX512-BF16 CPU, measured). */
bool
SlowCPU(const std::string & device)
{
  auto probe = itk::VQVAEModel::New(); // resolves the device as the steps will; builds no network
  probe->SetDevice(device);
  if (probe->GetDeviceInUse() != "cpu")
    return false;
#if defined(__x86_64__) || defined(__i386__)
  // The instruction set LibTorch will use (ONEDNN_MAX_CPU_ISA caps it: scripts/emulate_cpu.sh).
  return !itk::GetCPUInstructionSet().empty() && !itk::CPUHasAVX512();
#else
  return false; // no measurements on other CPUs
#endif
}

/** The preset, its slow-CPU settings where they apply, then the user's config (checked: its keys, and
 * that it is a JSON object; MicrostructureStudyConfig.h) and --device. */
json
LoadConfig(Module & m)
{
  const json   preset = Preset(m.Get("preset"));
  json         user = json::object();
  const auto & file = m.Get("config");
  if (!file.empty())
  {
    // A regular file of at most 16 MiB: a folder, /dev/zero or a FIFO is refused at once.
    user =
      sm::study::ParseUserConfig(itk::ReadRegularFile(file, std::uintmax_t{ 16 } << 20, "config file"), preset, file);
  }
  return sm::study::ComposeConfig(preset, user, m.Get("device"), SlowCPU, [](const json & slow) {
    std::cerr << "[study] this CPU has no AVX-512 (the networks train about 2.6 times slower there): the slow_cpu "
                 "settings "
              << slow.dump() << " apply, under any the config gives, to keep the run near its budget "
              << "(\"slow_cpu\": {} turns them off)\n";
  });
}

/** The condition columns of the study's data, in the order the prior sees them. */
std::vector<std::string>
ConditionColumns(const json & data)
{
  std::vector<std::string> columns;
  for (const char * key : { "log_conditions", "conditions", "categorical" })
    for (const auto & c : data[key])
      columns.push_back(c.get<std::string>());
  return columns;
}

/** A MicrostructureMeasure step's arguments with the config's smoothing before Otsu (measure.smoothing_px),
 * the same for the real, reconstructed and generated patches; none when it is 0 (the arguments, and so
 * the steps' stamps, of a study without it stay as they were). */
std::vector<std::string>
WithSmoothing(const json & config, std::vector<std::string> args)
{
  const double sigma = config["measure"]["smoothing_px"].get<double>();
  if (!(sigma >= 0) || sigma > 20)
    throw std::invalid_argument("measure.smoothing_px must be a standard deviation from 0 to 20 pixels (it is " +
                                config["measure"]["smoothing_px"].dump() + ")");
  if (sigma > 0)
    args.insert(args.end(), { "--smoothing", config["measure"]["smoothing_px"].dump() });
  return args;
}

/** The micrograph table (the synthetic default made first) and the patches step's arguments. */
std::vector<std::string>
PrepareData(Runner & run, const json & config, const std::string & out)
{
  const json &      data = config["data"];
  const bool        synthetic = data["source"] == "synthetic";
  const std::string dataDir = out + "/data";
  fs::create_directories(dataDir);
  std::string micrographs;
  if (synthetic)
  {
    SyntheticData(run, data["synthetic"], dataDir);
    micrographs = dataDir + "/micrographs.csv";
  }
  else
  {
    micrographs = data["csv"]["path"].get<std::string>();
    if (micrographs.empty() || !fs::exists(micrographs))
      throw std::invalid_argument("data.csv.path \"" + micrographs + "\" does not exist: give the micrograph table");
  }

  // Patches of every micrograph, split into train/test by sample.
  std::string columns;
  for (const auto & c : ConditionColumns(data))
    columns += (columns.empty() ? "" : ",") + c;
  const std::string        size = std::to_string(data["patch_size"].get<int>());
  std::vector<std::string> patchArgs = { micrographs,
                                         "--conditions",
                                         columns,
                                         "--patchSize",
                                         size + "," + size,
                                         "--testFraction",
                                         std::to_string(data["test_fraction"].get<double>()),
                                         "--seed",
                                         std::to_string(data["seed"].get<int>()),
                                         "--outputStack",
                                         out + "/patches.nrrd",
                                         "--outputTable",
                                         out + "/patches.csv" };
  if (!synthetic)
  {
    const json & csv = data["csv"];
    if (!csv["where"].empty())
      patchArgs.insert(patchArgs.end(), { "--where", JoinStrings(csv["where"]) });
    if (!csv["range"].empty())
      patchArgs.insert(patchArgs.end(), { "--range", JoinStrings(csv["range"]) });
    if (csv["pixel_size_um"].get<double>() > 0)
      patchArgs.insert(patchArgs.end(), { "--pixelSize", std::to_string(csv["pixel_size_um"].get<double>()) });
    patchArgs.insert(patchArgs.end(), { "--sampleColumn", csv["sample_column"].get<std::string>() });
  }
  // The micrographs are read only from the dataset's folder: a CSV from elsewhere whose file column
  // names ../.. or /etc/passwd is refused (MicrostructurePatches --confineReads).
  const std::string datasetFolder = fs::path(micrographs).parent_path().string();
  patchArgs.insert(patchArgs.end(), { "--confineReads", datasetFolder.empty() ? std::string(".") : datasetFolder });
  if (data["max_patches_per_image"].get<int>() > 0)
    patchArgs.insert(patchArgs.end(),
                     { "--maxPatchesPerImage", std::to_string(data["max_patches_per_image"].get<int>()) });
  return patchArgs;
}

/** One study in `out`: every step, then the comparison and report. Progress f of it goes to
 * base + scale f of the bar. */
void
RunStudy(const json & config, const std::string & out, const std::string & preset, sm::cli::Progress & progress,
         double base = 0.0, double scale = 1.0)
{
  fs::create_directories(out);
  itk::WriteTextFileAtomically(out + "/config.json", config.dump(2) + "\n");

  const json & data = config["data"];
  const bool   synthetic = data["source"] == "synthetic";
  std::cerr << "[study] preset " << preset << ", output " << out << "\n";
  if (preset == "demo" && synthetic)
    std::cerr << "[study] the demo (synthetic default, small networks) takes about 8 minutes on 2 cores with "
                 "AVX512-BF16 and up to 15 on CPUs without it; steps already done are reused\n";

  Runner                         run(BinDir(), out, progress, base, scale);
  const std::vector<std::string> conditionColumns = ConditionColumns(data);
  const std::vector<std::string> patchArgs = PrepareData(run, config, out);

  const auto patchStamp = run.Step("patches",
                                   "MicrostructurePatches",
                                   patchArgs,
                                   { out + "/patches.nrrd", out + "/patches.csv" },
                                   0.06,
                                   0.02,
                                   { "synthesize-train", "synthesize-holdout", "synthesize-unseen" });

  // Held-out and unseen conditions are excluded from both networks' training.
  std::vector<std::string> excluded;
  for (const char * key : { "holdout", "unseen" })
    for (const auto & c : config[key])
      excluded.push_back(c.get<std::string>());
  std::string excludeArg;
  for (const auto & e : excluded)
    excludeArg += (excludeArg.empty() ? "" : ",") + e;

  run.Step("measure-real",
           "MicrostructureMeasure",
           WithSmoothing(config,
                         { out + "/patches.nrrd",
                           "--table",
                           out + "/patches.csv",
                           "--outputTable",
                           out + "/measure_real.csv",
                           "--outputCorrelation",
                           out + "/s2_real.csv",
                           "--correlationDistance",
                           "40",
                           "--outputChords",
                           out + "/chords_real.csv",
                           "--outputParticles",
                           out + "/particles_real.csv" }),
           { out + "/measure_real.csv", out + "/s2_real.csv", out + "/chords_real.csv", out + "/particles_real.csv" },
           0.08,
           0.01,
           { "patches" });

  const json &             vq = config["vqvae"];
  std::vector<std::string> vqArgs = { out + "/patches.nrrd",
                                      out + "/vqvae.model",
                                      "--table",
                                      out + "/patches.csv",
                                      "--log",
                                      out + "/vqvae_log.csv",
                                      "--resume",
                                      "--steps",
                                      std::to_string(vq["steps"].get<int>()),
                                      "--batchSize",
                                      std::to_string(vq["batch_size"].get<int>()),
                                      "--learningRate",
                                      std::to_string(vq["learning_rate"].get<double>()),
                                      "--seed",
                                      std::to_string(vq["seed"].get<int>()),
                                      "--encoderChannels",
                                      JoinNumbers(vq["encoder_channels"]),
                                      "--residualBlocks",
                                      std::to_string(vq["residual_blocks"].get<int>()),
                                      "--codebookSize",
                                      std::to_string(vq["codebook_size"].get<int>()),
                                      "--codeDimension",
                                      std::to_string(vq["code_dimension"].get<int>()),
                                      "--codebookUpdate",
                                      vq["codebook_update"].get<std::string>(),
                                      "--commitmentCost",
                                      std::to_string(vq["commitment_cost"].get<double>()),
                                      "--gradientLossWeight",
                                      std::to_string(vq.value("gradient_loss_weight", 0.0)),
                                      "--phaseLossWeight",
                                      std::to_string(vq.value("phase_loss_weight", 0.0)),
                                      "--phaseLossSoftness",
                                      std::to_string(vq.value("phase_loss_softness", 0.05)),
                                      "--phaseLossThreshold",
                                      vq.value("phase_loss_threshold", std::string("original")),
                                      "--histogramLossWeight",
                                      std::to_string(vq.value("histogram_loss_weight", 0.0)),
                                      "--interfaceLossWeight",
                                      std::to_string(vq.value("interface_loss_weight", 0.0)),
                                      "--schedule",
                                      vq.value("schedule", std::string("constant")),
                                      "--validationPatches",
                                      "256",
                                      "--precision",
                                      vq.value("precision", std::string("float32")),
                                      "--device",
                                      config["device"].get<std::string>() };
  if (!excludeArg.empty())
    vqArgs.insert(vqArgs.end(), { "--exclude", excludeArg });
  run.Step("train-vqvae",
           "MicrostructureTrainVQVAE",
           vqArgs,
           { out + "/vqvae.model" },
           0.09,
           0.36,
           { "patches" },
           out + "/vqvae.model.checkpoint");

  // Reconstructions of every patch: the VQ-VAE's own bias, apart from the prior's.
  run.Step("encode",
           "MicrostructureEncode",
           { out + "/patches.nrrd",
             out + "/maps_real.nrrd",
             "--model",
             out + "/vqvae.model",
             "--device",
             config["device"].get<std::string>() },
           { out + "/maps_real.nrrd" },
           0.45,
           0.02,
           { "patches", "train-vqvae" });
  run.Step("decode",
           "MicrostructureDecode",
           { out + "/maps_real.nrrd",
             out + "/reconstructed.nrrd",
             "--model",
             out + "/vqvae.model",
             "--device",
             config["device"].get<std::string>() },
           { out + "/reconstructed.nrrd" },
           0.47,
           0.02,
           { "encode" });
  run.Step("measure-reconstructed",
           "MicrostructureMeasure",
           WithSmoothing(config,
                         { out + "/reconstructed.nrrd",
                           "--table",
                           out + "/patches.csv",
                           "--outputTable",
                           out + "/measure_reconstructed.csv",
                           "--outputCorrelation",
                           out + "/s2_reconstructed.csv",
                           "--correlationDistance",
                           "40",
                           "--outputParticles",
                           out + "/particles_reconstructed.csv" }),
           { out + "/measure_reconstructed.csv", out + "/particles_reconstructed.csv" },
           0.49,
           0.01,
           { "decode" });

  const json &             pr = config["prior"];
  std::vector<std::string> priorArgs = { out + "/patches.nrrd",
                                         out + "/prior.model",
                                         "--vqvae",
                                         out + "/vqvae.model",
                                         "--table",
                                         out + "/patches.csv",
                                         "--log",
                                         out + "/prior_log.csv",
                                         "--resume",
                                         "--steps",
                                         std::to_string(pr["steps"].get<int>()),
                                         "--batchSize",
                                         std::to_string(pr["batch_size"].get<int>()),
                                         "--learningRate",
                                         std::to_string(pr["learning_rate"].get<double>()),
                                         "--seed",
                                         std::to_string(pr["seed"].get<int>()),
                                         "--layers",
                                         std::to_string(pr["layers"].get<int>()),
                                         "--hiddenChannels",
                                         std::to_string(pr["hidden_channels"].get<int>()),
                                         "--outputHiddenChannels",
                                         std::to_string(pr["output_hidden_channels"].get<int>()),
                                         "--precision",
                                         pr.value("precision", std::string("float32")),
                                         "--device",
                                         config["device"].get<std::string>() };
  for (const auto & [flag, key] :
       std::vector<std::pair<std::string, std::string>>{ { "--logConditions", "log_conditions" },
                                                         { "--conditions", "conditions" },
                                                         { "--categorical", "categorical" } })
    if (!data[key].empty())
      priorArgs.insert(priorArgs.end(), { flag, JoinStrings(data[key]) });
  if (!excludeArg.empty())
    priorArgs.insert(priorArgs.end(), { "--exclude", excludeArg });
  if (pr.value("composition_level", std::string("none")) != "none")
    priorArgs.insert(priorArgs.end(), { "--compositionLevel", pr["composition_level"].get<std::string>() });
  run.Step("train-prior",
           "MicrostructureTrainPrior",
           priorArgs,
           { out + "/prior.model" },
           0.50,
           0.25,
           { "patches", "train-vqvae" },
           out + "/prior.model.checkpoint");

  // Conditions to generate: every condition of the table (training ones, the held-out, the unseen).
  const auto   table = itk::MicrostructureTable::Read(out + "/patches.csv");
  const auto   conditions = sm::study::DistinctConditions(table, conditionColumns);
  const json & gen = config["generate"];
  fs::create_directories(out + "/generated");
  const double span = 0.2 / std::max<size_t>(1, conditions.size());
  for (size_t k = 0; k < conditions.size(); ++k)
  {
    const auto & c = conditions[k];
    const bool   isExcluded = std::find(excluded.begin(), excluded.end(), c.Key) != excluded.end();
    const bool   holdout = isExcluded && !config["holdout"].empty() && c.Key == config["holdout"][0].get<std::string>();
    if (isExcluded && !holdout && !gen.value("unseen", true))
      continue; // generate.unseen false: the excluded conditions other than the held-out one are not generated
    const std::string        name = "generated/" + c.Slug;
    std::vector<std::string> args = { out + "/" + name + ".nrrd",
                                      "--vqvae",
                                      out + "/vqvae.model",
                                      "--prior",
                                      out + "/prior.model",
                                      "--condition",
                                      sm::study::PriorCondition(c, data),
                                      "--samples",
                                      std::to_string(holdout ? gen["holdout_samples"].get<int>()
                                                             : gen["samples"].get<int>()),
                                      "--temperature",
                                      std::to_string(gen["temperature"].get<double>()),
                                      "--seed",
                                      std::to_string(gen["seed"].get<int>() + k),
                                      "--batchSize",
                                      std::to_string(gen["batch_size"].get<int>()),
                                      "--outputTable",
                                      out + "/" + name + ".csv",
                                      "--device",
                                      config["device"].get<std::string>() };
    if (gen.value("composition_candidates", 1) != 1)
      args.insert(args.end(), { "--compositionCandidates", std::to_string(gen["composition_candidates"].get<int>()) });
    run.Step("generate-" + c.Slug,
             "MicrostructureGenerate",
             args,
             { out + "/" + name + ".nrrd" },
             0.75 + k * span,
             span * 0.8,
             { "train-prior" });
    run.Step(
      "measure-generated-" + c.Slug,
      "MicrostructureMeasure",
      WithSmoothing(config,
                    { out + "/" + name + ".nrrd",
                      "--table",
                      out + "/" + name + ".csv",
                      "--outputTable",
                      out + "/" + name + "_measure.csv",
                      "--outputCorrelation",
                      out + "/" + name + "_s2.csv",
                      "--correlationDistance",
                      "40",
                      "--outputChords",
                      out + "/" + name + "_chords.csv",
                      "--outputParticles",
                      out + "/" + name + "_particles.csv" }),
      { out + "/" + name + "_measure.csv", out + "/" + name + "_chords.csv", out + "/" + name + "_particles.csv" },
      0.75 + (k + 0.8) * span,
      span * 0.2,
      { "generate-" + c.Slug });
  }

  // The inverse at the held-out condition (synthetic source, whose held-out micrographs are at the
  // VQ-VAE's pixel size): the posterior of the held-out rate for whole micrographs it never saw.
  // Cross-validation pools these fold-seeds' errors into the inverse's model error.
  const json & inverse = config["inverse"];
  const int    inverseImages = inverse["images"].get<int>();
  if (inverseImages > 0 && data["source"] == "synthetic" && !data["synthetic"]["truth_rates"].empty())
  {
    const auto   micrographs = itk::MicrostructureTable::Read(out + "/data/holdout/micrographs.csv");
    const auto & train = data["synthetic"]["train_rates"];
    double       lo = 1e300, hi = -1e300;
    for (const auto & r : train)
      lo = std::min(lo, std::log(r.get<double>())), hi = std::max(hi, std::log(r.get<double>()));
    // The trained range widened by a quarter on each side (the CLI's default), grid_count values.
    const double      margin = 0.25 * (hi - lo);
    const std::string grid = sm::study::FormatFixed(lo - margin, 6, "") + ":" +
                             sm::study::FormatFixed(hi + margin, 6, "") + ":" +
                             std::to_string(inverse["grid_count"].get<int>());
    fs::create_directories(out + "/inverse");
    const size_t count = std::min<size_t>(inverseImages, micrographs.GetNumberOfRows());
    for (size_t i = 0; i < count; ++i)
    {
      const std::string name = "inverse/holdout-" + std::to_string(i);
      run.Step("infer-holdout-" + std::to_string(i),
               "MicrostructureInferCondition",
               { out + "/data/holdout/" + micrographs.Get(i, "file"),
                 out + "/" + name + ".csv",
                 "--outputSummary",
                 out + "/" + name + "_summary.csv",
                 "--vqvae",
                 out + "/vqvae.model",
                 "--prior",
                 out + "/prior.model",
                 "--parameter",
                 "ln_cooling_rate_C_per_s",
                 "--grid",
                 grid,
                 "--pooledOnly",
                 "--maximumPatches",
                 std::to_string(inverse["patches"].get<int>()),
                 "--modelError",
                 sm::study::FormatFixed(inverse["model_error"].get<double>(), 6, ""),
                 "--device",
                 config["device"].get<std::string>() },
               { out + "/" + name + "_summary.csv" },
               0.95,
               0.01,
               { "train-prior" });
    }
  }

  // Comparison and report (cheap: always redone).
  run.Update(0.96);
  sm::study::Analyse(out, config, conditions, excluded, run.Timings());
  run.Update(1.0);
  std::cerr << "[study] report: " << out << "/report/index.html\n";
}

/** The seeds of a cross-validation: data (the synthetic micrographs and the train/test split),
 * VQ-VAE, prior and generation vary together. */
json
WithSeed(json config, int seed)
{
  if (config["data"]["source"] == "synthetic")
    config["data"]["synthetic"]["seed"] = seed;
  config["data"]["seed"] = seed;
  for (const char * step : { "vqvae", "prior", "generate" })
    config[step]["seed"] = seed;
  return config;
}

/** Cross-validation (config key cross_validation): each fold condition held out in turn from both
 * networks and scored against its real patches, for every seed; each fold-seed is a whole study in
 * <out>/folds/<condition>/seed-<s>. Synthetic default: the conditions are cross_validation.rates.
 * CSV: the table's conditions less the config's holdout and unseen ones, which stay out of every
 * fold's training and are never scored. Folds: "interior" (those between training conditions in a
 * parameter), "all" (the extremes too, scored as extrapolation) or a list of conditions. */
void
CrossValidate(json config, const std::string & out, const std::string & preset, sm::cli::Progress & progress)
{
  const json cv = config.value("cross_validation", json::object());
  if (!cv.is_object())
    throw std::invalid_argument(
      "cross_validation must be an object: { \"folds\": \"interior\", \"seeds\": [1, 2, 3] }");
  const json seeds = cv.value("seeds", json::array({ 1, 2, 3 }));
  const json folds = cv.value("folds", json("interior"));
  if (!seeds.is_array() || seeds.empty() || !std::all_of(seeds.begin(), seeds.end(), [](const json & v) {
        return v.is_number_integer() && v.get<int>() >= 0;
      }))
    throw std::invalid_argument("cross_validation.seeds must be a list of integers >= 0, e.g. [1, 2, 3]");
  if (!(folds == "interior" || folds == "all" || (folds.is_array() && !folds.empty())))
    throw std::invalid_argument("cross_validation.folds must be \"interior\", \"all\" or a list of conditions "
                                "(\"cooling_rate_C_per_s=3\", or rates for the synthetic default)");
  fs::create_directories(out);
  itk::WriteTextFileAtomically(out + "/config.json", config.dump(2) + "\n");
  config.erase("cross_validation");
  const json & data = config["data"];

  struct Fold
  {
    sm::study::Condition condition;
    bool                 interior;
    json                 config;
  };
  std::vector<Fold> plan;
  auto              chosen = [&](const sm::study::Condition & c, const std::string & value) {
    if (folds == "interior" || folds == "all")
      return true;
    for (const auto & f : folds)
      if ((f.is_string() && (f.get<std::string>() == c.Key || f.get<std::string>() == value)) ||
          (f.is_number() && JoinNumbers(json::array({ f })) == value))
        return true;
    return false;
  };
  if (data["source"] == "synthetic")
  {
    // The synthetic source's one parameter; the truth at a fold's rate is synthesized like a held-out one.
    const std::string column = "cooling_rate_C_per_s";
    json              rates = cv.value("rates", json::array());
    if (rates.empty())
    {
      rates = data["synthetic"]["train_rates"];
      if (!data["synthetic"]["truth_rates"].empty())
        rates.push_back(data["synthetic"]["truth_rates"][0]);
    }
    std::vector<double> values;
    for (const auto & r : rates)
    {
      if (!r.is_number() || !(r.get<double>() > 0))
        throw std::invalid_argument("cross_validation.rates must be cooling rates > 0 (degC/s)");
      values.push_back(r.get<double>());
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    if (values.size() < 3)
      throw std::invalid_argument("cross_validation.rates needs at least 3 distinct rates (a fold between two others)");
    for (const double v : values)
    {
      const std::string    text = JoinNumbers(json::array({ v }));
      sm::study::Condition c;
      c.Values[column] = text;
      c.Key = column + "=" + text;
      c.Slug = sm::study::SlugOf(c.Key);
      const bool interior = v > values.front() && v < values.back();
      if (!chosen(c, text) || (folds == "interior" && !interior))
        continue;
      json f = config, train = json::array();
      for (const double t : values)
        if (t != v)
          train.push_back(t);
      f["data"]["synthetic"]["train_rates"] = train;
      f["data"]["synthetic"]["truth_rates"] = json::array({ v });
      f["holdout"] = json::array({ c.Key });
      f["unseen"] = json::array();
      plan.push_back({ c, interior, f });
    }
  }
  else
  {
    // The table's conditions, from the patches of every micrograph (made once, in <out>).
    Runner run(BinDir(), out, progress, 0.0, 0.02);
    run.Step("patches",
             "MicrostructurePatches",
             PrepareData(run, config, out),
             { out + "/patches.nrrd", out + "/patches.csv" },
             0.0,
             1.0);
    const auto conditions =
      sm::study::DistinctConditions(itk::MicrostructureTable::Read(out + "/patches.csv"), ConditionColumns(data));
    json kept = json::array();
    for (const char * key : { "holdout", "unseen" })
      for (const auto & c : config[key])
        kept.push_back(c);
    std::vector<sm::study::Condition> pool;
    for (const auto & c : conditions)
      if (std::find(kept.begin(), kept.end(), json(c.Key)) == kept.end())
        pool.push_back(c);
    for (const auto & c : pool)
    {
      std::vector<sm::study::Condition> others;
      for (const auto & o : pool)
        if (o.Key != c.Key)
          others.push_back(o);
      const bool interior = sm::study::IsInterior(c, others, data);
      if (!chosen(c, c.Key) || (folds == "interior" && !interior))
        continue;
      json f = config;
      f["holdout"] = json::array({ c.Key });
      f["unseen"] = kept; // still out of training; not generated
      f["generate"]["unseen"] = false;
      plan.push_back({ c, interior, f });
    }
  }
  if (folds.is_array() && plan.size() != folds.size())
    throw std::invalid_argument("cross_validation.folds names " + std::to_string(folds.size()) + " conditions, " +
                                std::to_string(plan.size()) + " of them among the study's training conditions: " +
                                "give conditions as in patches.csv (\"column=value;...\") or rates");
  if (plan.empty())
    throw std::invalid_argument("cross_validation: no fold (no condition lies between two others in a continuous "
                                "parameter); give \"folds\": \"all\" to score extrapolation");
  const size_t runs = plan.size() * seeds.size();
  std::cerr << "[study] cross-validation: " << plan.size() << " folds x " << seeds.size() << " seeds = " << runs
            << " studies in " << out << "/folds\n";
  std::vector<json> rows;
  const double      base = data["source"] == "synthetic" ? 0.0 : 0.02, share = (1.0 - base) / runs;
  for (size_t i = 0; i < plan.size(); ++i)
    for (size_t k = 0; k < seeds.size(); ++k)
    {
      const int         seed = seeds[k].get<int>();
      const std::string dir = out + "/folds/" + plan[i].condition.Slug + "/seed-" + std::to_string(seed);
      std::cerr << "[study] fold " << plan[i].condition.Key << " ("
                << (plan[i].interior ? "interpolation" : "extrapolation") << "), seed " << seed << "\n";
      json foldConfig = WithSeed(plan[i].config, seed);
      foldConfig["inverse"]["model_error"] = 0.0; // the cross-validation measures it
      RunStudy(foldConfig, dir, preset, progress, base + (i * seeds.size() + k) * share, share);
      std::ifstream f(dir + "/report/results.json");
      rows.push_back(sm::study::CrossValidationRow(json::parse(f), plan[i].condition.Key, seed, plan[i].interior));
      // Written after every fold-seed, so that an interrupted cross-validation shows what it has.
      sm::study::WriteCrossValidation(out,
                                      { { "folds", rows }, { "summary", sm::study::SummariseCrossValidation(rows) } });
    }
  std::cerr << "[study] cross-validation: " << out << "/cross_validation.html\n";
}

int
RunWhole(Module & m);

int
Body(Module & m)
{
  // Started by torchrun, srun or a PyTorchJob (WORLD_SIZE > 1): rank 0 runs the study, the others run
  // their ranks of its training and generation steps (job::Work).
  auto settings = itk::DataParallel::SettingsFromEnvironment();
  settings.Timeout = job::Patience;
  itk::DataParallel::Join(settings);
  if (itk::DataParallel::IsActive())
    std::cerr << "process " << settings.Rank << " of " << settings.WorldSize << " of a data-parallel job"
              << (settings.Rank == 0 ? " (writes the study; the other processes train and generate beside it)"
                                     : " (the study's worker: its share of the training and generation steps)")
              << "\n";
  if (itk::DataParallel::IsActive() && !itk::DataParallel::IsMainProcess())
  {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    const int status = job::Work(BinDir());
    if (status != 0)
      throw std::runtime_error("the study (rank 0) failed: see its messages");
    return 0;
  }
  try
  {
    const int status = RunWhole(m);
    job::End(status);
    return status;
  }
  catch (...)
  {
    try
    {
      job::End(1);
    }
    catch (...)
    {} // a worker already gone: rank 0's own error is the one to report
    throw;
  }
}

int
RunWhole(Module & m)
{
  json config = LoadConfig(m);
  // The steps' LibTorch runs many small operations (the samplers above all); OpenMP threads that spin
  // while they wait slow them down (200 maps: 11.6 s spinning, 7.4 s passive, measured). The steps
  // inherit this unless the caller chose a policy.
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  std::string out = fs::absolute(m.Get("output")).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/')
    out.pop_back(); // "out/" and "out" are the same study
  sm::cli::Progress progress("MicrostructureStudy",
                             m.GetBool("crossValidate") ? "the cross-validation" : "the whole study");
  if (m.GetBool("crossValidate"))
    CrossValidate(config, out, m.Get("preset"), progress);
  else
    RunStudy(config, out, m.Get("preset"), progress);
  progress.End();
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Microstructure Study",
           "Microstructure",
           "The experiment of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021) end to end, with held-out validation: "
           "micrographs (the synthetic default, or a CSV of real ones with process parameters) -> patches -> VQ-VAE "
           "-> conditional PixelCNN prior -> generated patches for every training condition, a held-out one and "
           "unseen ones -> volume fraction, mean free path and S2 of the real, reconstructed and generated sets -> "
           "report (index.html, tables, figures). Steps already done are reused.");
  m.Group("Input/Output");
  m.AddPositional("directory",
                  "output",
                  0,
                  "output",
                  "Study folder",
                  "Everything the study makes: data, models, logs, tables and report/index.html.");
  m.Add("file",
        "config",
        "config",
        "",
        "Config (JSON)",
        "Settings that replace the preset's (same keys as <output>/config.json, which every run writes). "
        "Its slow_cpu object holds settings that apply first on a CPU without AVX-512 (the demo: fewer VQ-VAE "
        "steps); {} turns them off.");
  auto & preset =
    m.Add("string-enumeration",
          "preset",
          "preset",
          "demo",
          "Preset",
          "demo: synthetic default, small networks, 8-15 min on 2 cores (by CPU); tiny: a couple of minutes "
          "(tests); paper: the paper's network sizes and budget (for a GPU).");
  for (const auto & p : sm::study::Presets)
    preset.elements.emplace_back(p.Name);
  m.Add("string", "device", "device", "", "Device", "auto (CUDA when present), cpu or cuda:N; overrides the config.");
  m.Add("boolean",
        "crossValidate",
        "crossValidate",
        "false",
        "Cross-validate",
        "Hold out each training condition between two others in turn (config cross_validation: folds, seeds, "
        "and for the synthetic default the rates) and score it, every seed a whole study in <output>/folds; "
        "writes cross_validation.csv, .json and .html. The demo: 3 and 10 degC/s x 3 seeds.");
  return sm::cli::Run(m, argc, argv, Body);
}
