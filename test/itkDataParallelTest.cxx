// Data-parallel training of both networks on c10d Gloo (itkDataParallel.h), tested with real processes:
// each case starts copies of this test binary as the ranks of a job on loopback (the environment
// torchrun sets), and compares what they trained with a one-process run in this process.
#include "itkCommand.h"
#include "itkDataParallel.h"
#include "itkPixelCNNPriorTrainer.h"
#include "itkSyntheticMicrostructureImageSource.h"
#include "itkTinyModelsTestHelper.h"
#include "itkVQVAETrainer.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char ** environ;

namespace
{
namespace fs = std::filesystem;
using Prior = itk::PixelCNNPriorModel;
using Trainer = itk::PixelCNNPriorTrainer;
using MapType = Trainer::MapImageType;

constexpr unsigned int BatchSize = 8, Steps = 8;

fs::path
TempDir()
{
  const fs::path dir = fs::temp_directory_path() / ("itkDataParallelTest-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

using tinymodels::Maps;

Prior::Pointer
TinyPrior()
{
  auto m = tinymodels::TinyPrior(11);
  m->SetPrecision("float32"); // the comparison is of the averaging, not of the CPU's arithmetic
  return m;
}

struct Data
{
  std::vector<Prior::Condition> trainC, valC;
  MapType::Pointer              train, val;
  Data()
  {
    train = Maps(32, 4, trainC);
    val = Maps(8, 5, valC);
  }
  std::vector<double>
  Score(Prior * m) const
  {
    std::vector<int32_t> idx(val->GetBufferPointer(), val->GetBufferPointer() + 6 * 6 * 8);
    return m->LogLikelihood(idx.data(), 8, 6, 6, valC);
  }
};

Trainer::Pointer
MakeTrainer(Prior * m, const Data & d, unsigned int batch)
{
  auto t = Trainer::New();
  t->SetModel(m);
  t->SetTrainingMaps(d.train, d.trainC);
  t->SetValidationMaps(d.val, d.valC);
  t->SetBatchSize(batch);
  t->SetNumberOfSteps(Steps);
  t->SetSeed(9);
  t->SetLearningRateSchedule("cosine");
  return t;
}

/** The VQ-VAE's data: 32 training and 8 validation patches of 32 x 32 px in [0, 255], cut from
 * synthetic micrographs, and a tiny model whose EMA codebook restarts dead codes (K = 16). */
struct VQData
{
  using StackType = itk::VQVAETrainer::ImageType;
  StackType::Pointer train, val;
  VQData()
  {
    train = Patches(32, 3);
    val = Patches(8, 40);
  }
  static StackType::Pointer
  Patches(unsigned int count, uint64_t seed)
  {
    using SourceType = itk::SyntheticMicrostructureImageSource<itk::Image<unsigned char, 2>>;
    auto                  stack = StackType::New();
    StackType::RegionType region;
    region.SetSize({ { 32, 32, count } });
    stack->SetRegions(region);
    stack->Allocate();
    auto source = SourceType::New();
    source->SetSize({ { 32 * 4, 32 * 2 * ((count + 7) / 8) } });
    source->SetCoolingRate(3.0);
    source->SetSeed(seed);
    source->Update();
    const auto *       img = source->GetOutput()->GetBufferPointer();
    const unsigned int width = 32 * 4;
    float *            out = stack->GetBufferPointer();
    for (unsigned int p = 0; p < count; ++p)
      for (unsigned int y = 0; y < 32; ++y)
        for (unsigned int x = 0; x < 32; ++x)
          *out++ = img[((p / 4) * 32 + y) * width + (p % 4) * 32 + x];
    return stack;
  }
  static itk::VQVAEModel::Pointer
  Model()
  {
    auto m = tinymodels::TinyVQVAE(7);
    m->SetPrecision("float32");
    return m;
  }
  itk::VQVAETrainer::Pointer
  Trainer(itk::VQVAEModel * m, unsigned int batch, unsigned int steps) const
  {
    auto t = itk::VQVAETrainer::New();
    t->SetModel(m);
    t->SetTrainingImages(train);
    t->SetBatchSize(batch);
    t->SetNumberOfSteps(steps);
    t->SetSeed(5);
    return t;
  }
  /** The codebook, then the validation patches' encoder outputs: what the training changed. */
  std::vector<double>
  Score(itk::VQVAEModel * m) const
  {
    std::vector<double> v;
    for (const float c : m->GetCodebook())
      v.push_back(c);
    std::vector<float> images(val->GetBufferPointer(), val->GetBufferPointer() + 32 * 32 * 8);
    for (auto & x : images)
      x = static_cast<float>(m->NormalizeIntensity(x));
    for (const float z : m->EncodeToLatents(images.data(), 8, 32, 32))
      v.push_back(z);
    return v;
  }
};

/** Kills this process after `step` training steps (the rank that "fails"). */
class KillAt : public itk::Command
{
public:
  using Self = KillAt;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  unsigned int events{ 0 }, step{ 0 };
  void
  Execute(itk::Object *, const itk::EventObject &) override
  {
    if (events++ == step) // the first progress event comes before step 1
      ::raise(SIGKILL);
  }
  void
  Execute(const itk::Object *, const itk::EventObject &) override
  {}
};

std::string
Format(const std::vector<double> & values)
{
  std::ostringstream text;
  text << "ok";
  for (const double v : values)
    text << ' ' << std::hexfloat << v;
  return text.str();
}

/** What a rank trains: the prior (resumed from SM_DP_CHECKPOINT when SM_DP_RESUME is set; rank 1
 * killed after SM_DP_KILL_AT steps) or, with SM_DP_VQVAE=<steps>, the VQ-VAE. */
std::string
RunRank()
{
  itk::DataParallel::Join(itk::DataParallel::SettingsFromEnvironment());
  if (std::getenv("SM_DP_VQVAE"))
  {
    const VQData d;
    auto         m = VQData::Model();
    d.Trainer(m, BatchSize, static_cast<unsigned int>(std::atoi(std::getenv("SM_DP_VQVAE"))))->Train();
    return Format(d.Score(m));
  }
  const Data   d;
  auto         m = TinyPrior();
  const char * checkpoint = std::getenv("SM_DP_CHECKPOINT");
  if (checkpoint && std::getenv("SM_DP_RESUME"))
    m->Read(checkpoint);
  auto t = MakeTrainer(m, d, BatchSize);
  if (checkpoint)
  {
    t->SetCheckpointPath(checkpoint);
    t->SetCheckpointInterval(2);
  }
  const char * kill = std::getenv("SM_DP_KILL_AT");
  if (kill && itk::DataParallel::GetRank() == 1)
  {
    auto k = KillAt::New();
    k->step = static_cast<unsigned int>(std::atoi(kill));
    t->AddObserver(itk::ProgressEvent(), k);
  }
  t->Train();
  return Format(d.Score(m));
}

/** The body of a rank (SM_DP_WORKER set): writes "ok" and the values RunRank gives, or "error" and
 * the message, to SM_DP_OUT; then ends the process at once (a job that lost a rank is not torn
 * down gracefully). */
[[noreturn]] void
Worker()
{
  const std::string out = std::getenv("SM_DP_OUT");
  std::string       text;
  try
  {
    text = RunRank();
  }
  catch (const std::exception & e)
  {
    text = std::string("error ") + e.what();
  }
  {
    std::ofstream f(out + ".tmp");
    f << text << '\n';
  }
  fs::rename(out + ".tmp", out);
  std::_Exit(0);
}

/** Removes this test's temporary folder when the case ends. */
struct RemoveTempDir
{
  ~RemoveTempDir()
  {
    std::error_code ignored;
    fs::remove_all(TempDir(), ignored);
  }
};

unsigned short
FreePort()
{
  const int   s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr *>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(s, reinterpret_cast<sockaddr *>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

struct Rank
{
  pid_t    pid{ -1 };
  fs::path out;
};

/** Starts `world` copies of this test as the ranks of a job on loopback, with extra environment. */
std::vector<Rank>
StartJob(const std::string & testName, unsigned int world, const std::vector<std::string> & extra)
{
  const auto        dir = TempDir();
  const std::string port = std::to_string(FreePort());
  std::vector<Rank> ranks(world);
  for (unsigned int r = 0; r < world; ++r)
  {
    ranks[r].out = dir / ("rank" + std::to_string(r) + "-" + port + ".txt");
    std::vector<std::string> env;
    for (char ** e = environ; *e; ++e)
      env.emplace_back(*e);
    for (const std::string s : { "SM_DP_WORKER=1", "MASTER_ADDR=127.0.0.1", "SM_DISTRIBUTED_TIMEOUT=30" })
      env.push_back(s);
    env.push_back("MASTER_PORT=" + port);
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("SM_DP_OUT=" + ranks[r].out.string());
    env.insert(env.end(), extra.begin(), extra.end());
    std::vector<char *> envp;
    for (auto & s : env)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string                self = fs::read_symlink("/proc/self/exe").string();
    std::string                filter = "--gtest_filter=DataParallel." + testName;
    std::vector<char *>        argv{ self.data(), filter.data(), nullptr };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    EXPECT_EQ(posix_spawn(&ranks[r].pid, self.c_str(), &actions, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  return ranks;
}

/** Waits for a rank (at most `limit`); returns its file's text ("" when it wrote none). */
std::string
Finish(const Rank & r, std::chrono::seconds limit, double * seconds = nullptr)
{
  const auto start = std::chrono::steady_clock::now();
  int        status = 0;
  while (::waitpid(r.pid, &status, WNOHANG) == 0)
  {
    if (std::chrono::steady_clock::now() - start > limit)
    {
      ::kill(r.pid, SIGKILL);
      ::waitpid(r.pid, &status, 0);
      ADD_FAILURE() << "a rank did not end within " << limit.count() << " s";
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (seconds)
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ifstream      f(r.out);
  std::ostringstream text;
  text << f.rdbuf();
  return text.str();
}

std::vector<double>
Scores(const std::string & text)
{
  std::istringstream  s(text);
  std::string         word;
  std::vector<double> v;
  s >> word;
  while (s >> word)
    v.push_back(std::strtod(word.c_str(), nullptr));
  return v;
}

/** Waits for the ranks of a job that should succeed; their values, or none with a failure recorded. */
std::vector<std::vector<double>>
FinishJob(const std::vector<Rank> & ranks)
{
  std::vector<std::vector<double>> values;
  for (const auto & r : ranks)
  {
    const std::string text = Finish(r, std::chrono::seconds(120));
    if (text.rfind("ok", 0) != 0)
    {
      ADD_FAILURE() << "a rank failed: " << text;
      return {};
    }
    values.push_back(Scores(text));
  }
  return values;
}

double
MaxDifference(const std::vector<double> & a, const std::vector<double> & b)
{
  double d = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    d = std::max(d, std::abs(a[i] - b[i]));
  return a.size() == b.size() ? d : INFINITY;
}
} // namespace

TEST(DataParallel, EnvironmentIsReadAsTorchrunSetsIt)
{
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "2", 1);
  ::setenv("LOCAL_RANK", "0", 1);
  ::setenv("MASTER_ADDR", "node0", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  auto s = itk::DataParallel::SettingsFromEnvironment();
  EXPECT_EQ(s.WorldSize, 4u);
  EXPECT_EQ(s.Rank, 2u);
  EXPECT_EQ(s.MasterAddress, "node0");
  EXPECT_EQ(s.MasterPort, 29511);
  ::setenv("RANK", "4", 1);
  EXPECT_THROW(itk::DataParallel::SettingsFromEnvironment(), itk::ExceptionObject);
  ::setenv("RANK", "x", 1);
  EXPECT_THROW(itk::DataParallel::SettingsFromEnvironment(), itk::ExceptionObject);
  ::setenv("RANK", "1", 1);
  ::unsetenv("MASTER_PORT");
  try
  {
    itk::DataParallel::SettingsFromEnvironment();
    ADD_FAILURE() << "no MASTER_PORT accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("MASTER_PORT"), std::string::npos) << e.GetDescription();
  }
  for (const char * v : { "WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR" })
    ::unsetenv(v);
  s = itk::DataParallel::SettingsFromEnvironment();
  EXPECT_EQ(s.WorldSize, 1u); // no job: one process
  itk::DataParallel::Join(s);
  EXPECT_FALSE(itk::DataParallel::IsActive());
  EXPECT_TRUE(itk::DataParallel::IsMainProcess());
}

TEST(DataParallel, TwoProcessesTrainAsOneWithTheSameGlobalBatch)
{
  if (std::getenv("SM_DP_WORKER"))
    Worker();
  if (!itk::DataParallel::HasGloo())
    GTEST_SKIP() << "built without c10d Gloo (libgloo-dev)";
  const RemoveTempDir cleanup;
  auto                ranks = StartJob("TwoProcessesTrainAsOneWithTheSameGlobalBatch", 2, {});
  const Data          d;
  auto                one = TinyPrior();
  MakeTrainer(one, d, BatchSize)->Train();
  const auto truth = d.Score(one);
  auto       local = TinyPrior(); // one process with each rank's share only: what averaging must not give
  MakeTrainer(local, d, BatchSize / 2)->Train();
  const auto half = d.Score(local);

  const auto job = FinishJob(ranks);
  ASSERT_EQ(job.size(), 2u);
  const auto & a = job[0];
  const auto & b = job[1];
  EXPECT_EQ(MaxDifference(a, b), 0.0) << "the ranks' weights differ";
  // Float sums in another order: the per-map log-likelihoods (about -30 nats) agree to 1e-4.
  EXPECT_LT(MaxDifference(a, truth), 1e-4);
  EXPECT_GT(MaxDifference(half, truth), 100 * MaxDifference(a, truth) + 1e-3);
  std::cout << "largest difference from one process: " << MaxDifference(a, truth)
            << " (one process with half the batch: " << MaxDifference(half, truth) << ")\n";
}

TEST(DataParallel, AKilledProcessEndsTheJobAndItResumes)
{
  if (std::getenv("SM_DP_WORKER"))
    Worker();
  if (!itk::DataParallel::HasGloo())
    GTEST_SKIP() << "built without c10d Gloo (libgloo-dev)";
  const RemoveTempDir cleanup;
  const std::string   checkpoint = (TempDir() / "prior.ckpt").string();
  auto                ranks =
    StartJob("AKilledProcessEndsTheJobAndItResumes", 2, { "SM_DP_KILL_AT=5", "SM_DP_CHECKPOINT=" + checkpoint });
  double            seconds = 0.0;
  const std::string r0 = Finish(ranks[0], std::chrono::seconds(90), &seconds);
  Finish(ranks[1], std::chrono::seconds(10));
  EXPECT_EQ(r0.rfind("error", 0), 0u) << r0;
  EXPECT_NE(r0.find("failed during"), std::string::npos) << r0;
  EXPECT_NE(r0.find("restart the whole job"), std::string::npos) << r0;
  EXPECT_LT(seconds, 45.0) << "rank 0 waited past the 30 s timeout";
  ASSERT_TRUE(fs::exists(checkpoint));

  ranks = StartJob("AKilledProcessEndsTheJobAndItResumes", 2, { "SM_DP_CHECKPOINT=" + checkpoint, "SM_DP_RESUME=1" });
  const auto resumed = FinishJob(ranks);
  ASSERT_EQ(resumed.size(), 2u);
  const Data d;
  auto       one = TinyPrior();
  MakeTrainer(one, d, BatchSize)->Train();
  EXPECT_LT(MaxDifference(resumed[0], d.Score(one)), 1e-4);
}

TEST(DataParallel, TwoProcessesTrainTheVQVAEAsOne)
{
  if (std::getenv("SM_DP_WORKER"))
    Worker();
  if (!itk::DataParallel::HasGloo())
    GTEST_SKIP() << "built without c10d Gloo (libgloo-dev)";
  const RemoveTempDir cleanup;
  const VQData        d;
  // Synchronised batch normalisation, EMA sums and dead-code restarts (the first restarts come in
  // the first steps) must give one process's model up to the order of float sums. Adam then
  // amplifies those last-bit differences: a weight whose gradient is near zero moves by up to the
  // learning rate (3e-3) in either direction. How soon depends on the CPU's convolution kernels:
  // oneDNN's AVX-512 kernels round a batch of 4 and one of 8 further apart than its AVX2 ones. Measured
  // largest difference, codebook and latents of order 0.1-1:
  //   after 2 steps (dead codes restart in both): 3.6e-7 (AMD Zen 5, AVX-512) and 3.0e-7 (the
  //   same, oneDNN held to AVX2);
  //   after 8 steps: 3.3e-3 (Zen 5, AVX-512) and 6.1e-7 (held to AVX2), against 2.2 for one
  //   process with a rank's share of the batch.
  // So the job is held to 1e-5 where the amplification has not begun, and after 8 steps to 1e-2
  // and to two hundredths of the difference that local batch statistics make.
  for (const unsigned int steps : { 2u, 8u })
  {
    SCOPED_TRACE(std::to_string(steps) + " steps");
    auto ranks = StartJob("TwoProcessesTrainTheVQVAEAsOne", 2, { "SM_DP_VQVAE=" + std::to_string(steps) });
    auto one = VQData::Model();
    d.Trainer(one, BatchSize, steps)->Train();
    const auto truth = d.Score(one);
    auto       local = VQData::Model(); // one process with a rank's share: local batch statistics
    d.Trainer(local, BatchSize / 2, steps)->Train();
    const auto half = d.Score(local);

    const auto job = FinishJob(ranks);
    ASSERT_EQ(job.size(), 2u);
    const auto & a = job[0];
    const auto & b = job[1];
    ASSERT_EQ(a.size(), truth.size());
    EXPECT_EQ(MaxDifference(a, b), 0.0) << "the ranks' codebooks or weights differ";
    EXPECT_LT(MaxDifference(a, truth), steps <= 2 ? 1e-5 : 1e-2);
    EXPECT_LT(MaxDifference(a, truth), 0.02 * MaxDifference(half, truth));
    std::cout << steps << " steps: largest difference from one process: " << MaxDifference(a, truth)
              << " (one process with half the batch: " << MaxDifference(half, truth) << ")\n";
  }
}
