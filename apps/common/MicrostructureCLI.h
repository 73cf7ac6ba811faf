/*=========================================================================
 *  ITKStochasticMicrostructure: the Slicer command-line module contract.
 *
 *  Each CLI declares its parameters once; from that one declaration come the
 *  Slicer Execution Model XML (--xml), the --help text, argument parsing with
 *  clear errors, the return-parameter file, and progress reporting
 *  (<filter-progress> tags on stdout when it is not a terminal, as for Slicer,
 *  which reads a pipe; a bar with ETA on stderr for a person at a terminal).
 *
 *  Slicer's side of the contract (vtkSlicerCLIModuleLogic), which the XML
 *  follows and test/cli/slicer_contract.py imitates:
 *  - an output scalar (channel output, not a file) is declared with neither
 *    flag nor index: only then does Slicer pass --returnparameterfile and read
 *    the values back. Its name given as an option is a usage error;
 *  - every <table> declares fileExtensions (".csv" unless set), so Slicer
 *    hands over a .csv path; a .tsv path (Slicer's default) is read and
 *    written tab-separated as well;
 *  - a constrained number is drawn as a slider: it needs a maximum as well as
 *    a minimum (else Slicer's slider runs to about 2e7), and its value arrives
 *    printed with %g (exact below 1e6: keep maxima of integers under that);
 *  - a seed is declared as a string (AddSeed), so any 64-bit seed arrives
 *    exactly (an integer widget clamps to about 2e7 and prints %g);
 *  - a number box with no default sends 0: give numbers a default whose
 *    meaning is "unset" (0 = from the image, ...).
 *=========================================================================*/
#ifndef MicrostructureCLI_h
#define MicrostructureCLI_h

#include "itkCommand.h"
#include "itkExtractImageFilter.h"
#include "itkImage.h"
#include "itkMicrostructureTable.h"
#include "itkProcessObject.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sm
{
namespace cli
{
/** One parameter as the Slicer Execution Model describes it. `tag` is the
 * XML element: integer, float, double, boolean, string, file, directory,
 * image, table, string-enumeration, integer-vector, float-vector,
 * string-vector. A parameter with index >= 0 is positional. */
struct Parameter
{
  std::string              tag;
  std::string              name;
  std::string              longflag; // without the leading "--"
  std::string              flag;     // one letter, without "-"; may be empty
  std::string              label;
  std::string              description;
  std::string              defaultValue;
  std::string              channel; // "input" or "output" for files and images
  int                      index{ -1 };
  std::vector<std::string> elements; // for string-enumeration
  std::string              minimum, maximum;
  std::string              step;           // the slider's step; integers: 1 unless set
  std::string              fileExtensions; // e.g. ".csv"; a <table> gets ".csv" when empty
  bool                     required{ false };
  bool                     seed{ false }; // a string that must be a whole number 0..2^64-1 (AddSeed)
};

class Module
{
public:
  Module(std::string title, std::string category, std::string description, std::string version = "0.1.0");

  /** Start a new parameter group (Slicer shows one collapsible box per group). */
  Module &
  Group(const std::string & label, const std::string & description = "");
  /** Add a parameter to the current group; returns it for further settings. */
  Parameter &
  Add(const std::string & tag, const std::string & name, const std::string & longflag, const std::string & defaultValue,
      const std::string & label, const std::string & description);
  /** Add a positional input or output. */
  Parameter &
  AddPositional(const std::string & tag, const std::string & name, int index, const std::string & channel,
                const std::string & label, const std::string & description);

  /** A random seed: a string in the XML (Slicer sends it exactly), checked to be a whole number
   * from 0 to 2^64-1; read it with GetSeed. */
  Parameter &
  AddSeed(const std::string & name, const std::string & defaultValue, const std::string & label,
          const std::string & description);

  /** The Slicer Execution Model description. */
  std::string
  XML() const;
  std::string
  Help(const std::string & program) const;

  /** Parse argv. Returns -1 when the program should go on, or an exit code
   * (0 after --xml/--help, 2 after a usage error, with the message printed). */
  int
  Parse(int argc, char * argv[]);

  bool
  IsSet(const std::string & name) const; // given on the command line
  const std::string &
  Get(const std::string & name) const;
  double
  GetDouble(const std::string & name) const;
  long long
  GetInt(const std::string & name) const;
  bool
  GetBool(const std::string & name) const;
  /** A parameter declared with AddSeed (checked by Parse). */
  std::uint64_t
  GetSeed(const std::string & name) const;
  std::vector<std::string>
  GetList(const std::string & name) const; // comma-separated values
  std::vector<double>
  GetDoubleList(const std::string & name) const;

  /** Record an output scalar; written to --returnparameterfile by Finish(). */
  void
  SetReturn(const std::string & name, const std::string & value);
  void
  Finish() const;

  const std::string &
  GetTitle() const
  {
    return m_Title;
  }

private:
  const Parameter &
  Find(const std::string & name) const;

  struct GroupEntry
  {
    std::string            label, description;
    std::vector<Parameter> params;
  };
  std::string                                      m_Title, m_Category, m_Description, m_Version;
  std::vector<GroupEntry>                          m_Groups;
  std::map<std::string, std::string>               m_Values;
  std::map<std::string, bool>                      m_Given;
  std::vector<std::pair<std::string, std::string>> m_Returns;
  std::string                                      m_ReturnFile;
};

/** Progress for one task: Slicer's tags on stdout (flushed) when stdout is not a terminal (Slicer
 * reads a pipe), and a bar with ETA on stderr when stderr is a terminal (a line every 10 %
 * otherwise). */
class Progress
{
public:
  Progress(std::string name, std::string comment);
  ~Progress();
  /** fraction in [0, 1]; cheap to call often (throttled). */
  void
  Update(double fraction);
  void
  End();

  /** Forward an ITK filter's progress events into the range [start, start+span]. */
  void
  Observe(itk::ProcessObject * filter, double start, double span);

private:
  std::string                           m_Name;
  std::chrono::steady_clock::time_point m_Start;
  std::chrono::steady_clock::time_point m_LastPrint;
  double                                m_LastFraction{ -1.0 };
  int                                   m_LastDecile{ -1 };
  bool                                  m_Tty{ false };
  bool                                  m_Tags{ true };
  bool                                  m_Ended{ false };
};

/** True when the image file is a 3D stack of more than one slice, false for a 2D image (or a
 * single slice). Throws a clear error for a file ITK cannot read. Reads only the header. */
bool
IsImageStack(const std::string & path);

/** The slices of a 3D stack whose indices are in `keep`, in that order, as a new stack (same
 * spacing). */
template <typename TImage>
typename TImage::Pointer
SelectSlices(const TImage * stack, const std::vector<std::size_t> & keep)
{
  static_assert(TImage::ImageDimension == 3, "SelectSlices takes a 3D stack");
  const auto                  size = stack->GetLargestPossibleRegion().GetSize();
  auto                        out = TImage::New();
  typename TImage::RegionType region;
  region.SetSize({ { size[0], size[1], keep.size() } });
  out->SetRegions(region);
  out->SetSpacing(stack->GetSpacing());
  out->Allocate();
  const std::size_t per = size[0] * size[1];
  for (std::size_t i = 0; i < keep.size(); ++i)
  {
    std::copy_n(stack->GetBufferPointer() + keep[i] * per, per, out->GetBufferPointer() + i * per);
  }
  return out;
}

/** Slice k of a 3D stack as a 2D image (direction collapsed to the in-plane submatrix). */
template <typename TImage>
typename itk::Image<typename TImage::PixelType, 2>::Pointer
ExtractSlice(const TImage * stack, std::size_t k)
{
  static_assert(TImage::ImageDimension == 3, "ExtractSlice takes a 3D stack");
  using SliceType = itk::Image<typename TImage::PixelType, 2>;
  auto                        extract = itk::ExtractImageFilter<TImage, SliceType>::New();
  typename TImage::RegionType region = stack->GetLargestPossibleRegion();
  region.SetIndex(2, static_cast<itk::IndexValueType>(k));
  region.SetSize(2, 0);
  extract->SetExtractionRegion(region);
  extract->SetDirectionCollapseToSubmatrix();
  extract->SetInput(stack);
  extract->Update();
  return extract->GetOutput();
}

/** Rows of a patch table left out of training (--exclude): a list of conditions, each
 * "column=value" or several joined by ';' ("a=1;b=Q": all must hold); a row matching any
 * condition is excluded. Throws std::invalid_argument for a malformed item or an unknown column. */
class RowExclusion
{
public:
  RowExclusion(const std::vector<std::string> & items, const itk::MicrostructureTable & table);
  bool
  Excludes(const itk::MicrostructureTable & table, std::size_t row) const;
  bool
  Empty() const
  {
    return m_Conditions.empty();
  }
  /** "a=1;b=Q, c=2" */
  std::string
  Describe() const;

private:
  std::vector<std::vector<std::pair<std::string, std::string>>> m_Conditions;
};

/** For --resume: throws std::invalid_argument naming the option and the checkpoint when an option
 * given on the command line differs from the checkpoint's value (a resumed run keeps its network).
 * architecture: option name -> the checkpoint's value as the option would be written (lists joined
 * by commas; spaces in the given value are ignored). */
void
CheckResumedArchitecture(const Module & module, const std::string & checkpoint,
                         const std::vector<std::pair<std::string, std::string>> & architecture);

/** Runs `body` after parsing; turns exceptions into a message on stderr and
 * exit code 1. The standard main() of every CLI. */
int
Run(Module & module, int argc, char * argv[], const std::function<int(Module &)> & body);

} // namespace cli
} // namespace sm

#endif
