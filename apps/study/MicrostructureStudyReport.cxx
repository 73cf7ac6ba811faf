/*=========================================================================
 *  The report of MicrostructureStudy: index.html, figures.
 *=========================================================================*/
#include "MicrostructureStudyAnalysis.h"

#include <iostream>

namespace sm
{
namespace study
{
void
WriteReport(const std::string & out, const nlohmann::json &, const std::vector<Condition> &, const nlohmann::json &,
            const itk::MicrostructureTable &)
{
  std::cerr << "[study] tables in " << out << "/report\n";
}
} // namespace study
} // namespace sm
