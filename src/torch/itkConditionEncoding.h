/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the condition schema
 * of itk::PixelCNNPriorModel (its process parameters) and their encoding as
 * the network's condition vector, learned from a training table and stored as
 * one condition_<i> header line per parameter in the prior's model file.
 * Torch-free.
 *
 * Encoding of one map's condition (EncodedLength values, parameter by parameter
 * in schema order): a continuous parameter of value x gives z = (x - Mean) / StdDev;
 * a categorical one gives its one-hot vector over Categories.
 *=========================================================================*/
#ifndef itkConditionEncoding_h
#define itkConditionEncoding_h

#include "itkIndent.h"
#include "itkPixelCNNPriorModel.h"

#include <ostream>
#include <string>
#include <vector>

namespace itk
{
namespace conditionencoding
{

using Spec = PixelCNNPriorModel::ConditionSpec;
using Schema = PixelCNNPriorModel::ConditionSchema;
using Condition = PixelCNNPriorModel::Condition;

/** The largest |standardised value| of a continuous condition that Encode accepts: further out the biases overflow and
 * the logits become NaN. */
constexpr double MaximumStandardisedValue = 100.0;

/** Throws itk::ExceptionObject ("PixelCNNPriorModel: " and the first problem) unless the names are
 * non-empty and distinct, every categorical parameter has >= 1 distinct non-empty categories, and
 * every continuous one a finite Mean, a finite StdDev > 0 and finite Minimum <= Maximum. */
void
Validate(const Schema & schema);

/** One per continuous parameter, the number of categories per categorical one. */
unsigned int
EncodedLength(const Schema & schema);

/** PixelCNNPriorModel::LearnContinuousCondition, LearnCategoricalCondition and LearnCondition (their
 * contracts are in itkPixelCNNPriorModel.h); they throw as Validate. */
Spec
LearnContinuous(const std::string & name, const std::vector<double> & values);
Spec
LearnCategorical(const std::string & name, const std::vector<std::string> & values);
Spec
Learn(const std::string & name, const std::vector<std::string> & values, bool categorical);

/** The encoded condition vectors of n maps, n x EncodedLength(schema) (conditions: one for all maps
 * or one per map; none for an unconditional schema gives {}). Throws itk::ExceptionObject whose
 * description is the message alone (the model throws it again as its own) for a wrong number of
 * conditions, an unknown or missing parameter, an unknown category, a value that is not a finite
 * number or lies more than MaximumStandardisedValue standard deviations out. outsideRange: the
 * continuous values outside the trained Minimum..Maximum, "name = value (trained on min .. max)"
 * joined by "; " (each once), "" when none. */
std::vector<float>
Encode(const Schema & schema, const std::vector<Condition> & conditions, unsigned int n, std::string & outsideRange);

/** The value of the parameter's condition_<i> header line: "name,categorical,category,..." or
 * "name,continuous,mean,sd,min,max"; names and categories field-escaped (modelfile::EscapeField), numbers exact
 * (modelfile::Exact). */
std::string
HeaderValue(const Spec & spec);

/** HeaderValue's inverse. Throws itk::ExceptionObject naming path and key for a line that is not of
 * that form (the file is damaged), and for a continuous line with a degree or exponential terms after
 * its range (written before session 24, when they were deleted: retrain). Not validated: call Validate on the whole
 * schema. */
Spec
ParseHeaderValue(const std::string & value, const std::string & path, const std::string & key);

/** "Conditions:" (" none (unconditional)" for an empty schema), then one line per parameter at the
 * next indent: its name and kind, then its categories or its standardisation and trained range. */
void
Print(std::ostream & os, Indent indent, const Schema & schema);

} // namespace conditionencoding
} // namespace itk

#endif
