/*=========================================================================
 * The LibTorch (de)serialisation of the model files' sections (itkModelFile.h).
 *=========================================================================*/
#include "itkModelFile.h"
#include "itkMacro.h"

#include <sstream>

namespace itk
{
namespace modelfile
{

namespace
{
/** The bytes of LibTorch's archive of a module or an optimizer. */
template <typename T>
std::string
SaveToBytes(T & saved)
{
  std::ostringstream              stream;
  torch::serialize::OutputArchive archive;
  saved.save(archive);
  archive.save_to(stream);
  return stream.str();
}
} // namespace

std::string
SaveOptimizer(torch::optim::Optimizer & optimizer)
{
  return SaveToBytes(optimizer);
}

void
LoadOptimizer(torch::optim::Optimizer & optimizer, const std::string & bytes, const torch::Device & device)
{
  std::istringstream             stream(bytes);
  torch::serialize::InputArchive archive;
  archive.load_from(stream, device);
  optimizer.load(archive);
}

std::string
SaveModule(torch::nn::Module & module)
{
  return SaveToBytes(module);
}

void
LoadModule(torch::nn::Module & module, const std::string & bytes, const torch::Device & device,
           const std::string & path)
{
  try
  {
    std::istringstream             stream(bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(stream, device);
    module.load(archive);
  }
  catch (const c10::Error & e)
  {
    itkGenericExceptionMacro(<< path << ": the weights do not match the header's architecture or are damaged ("
                             << e.what_without_backtrace() << ")");
  }
}

std::string
GeneratorStateToHex(const torch::Generator & generator)
{
  static const char * digits = "0123456789abcdef";
  auto                b = generator.get_state().to(torch::kCPU, torch::kByte).contiguous();
  const uint8_t *     p = b.data_ptr<uint8_t>();
  std::string         out;
  out.reserve(2 * b.numel());
  for (int64_t i = 0; i < b.numel(); ++i)
  {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

void
SetGeneratorStateFromHex(torch::Generator & generator, const std::string & text)
{
  auto nibble = [](char c) -> int {
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
  };
  if (text.size() % 2 != 0)
    throw std::invalid_argument("generator state: odd number of hexadecimal digits");
  auto      bytes = torch::empty({ static_cast<int64_t>(text.size() / 2) }, torch::kByte);
  uint8_t * p = bytes.data_ptr<uint8_t>();
  for (size_t i = 0; i < text.size(); i += 2)
  {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0)
      throw std::invalid_argument("generator state: not hexadecimal");
    p[i / 2] = static_cast<uint8_t>(hi * 16 + lo);
  }
  try
  {
    generator.set_state(bytes);
  }
  catch (const c10::Error & e)
  {
    throw std::invalid_argument(std::string("generator state does not fit this LibTorch: ") +
                                e.what_without_backtrace());
  }
}

} // namespace modelfile
} // namespace itk
