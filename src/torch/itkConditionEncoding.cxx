/*=========================================================================
 * The condition schema and its encoding (itkConditionEncoding.h).
 *=========================================================================*/
#include "itkConditionEncoding.h"
#include "itkModelFileFormat.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace itk
{
namespace conditionencoding
{

namespace
{
using modelfile::Exact;
using modelfile::ParseDouble;
using modelfile::Trim;

/** A problem of the schema, a training column or a file: the model's name, then the message. */
[[noreturn]] void
Fail(const std::string & message)
{
  ExceptionObject e(__FILE__, __LINE__, "PixelCNNPriorModel: " + message, ITK_LOCATION);
  throw e;
}

/** A problem of a condition given to the model: the message alone (the model throws it again as its own). */
[[noreturn]] void
Refuse(const std::ostringstream & message)
{
  ExceptionObject e(__FILE__, __LINE__, message.str(), ITK_LOCATION);
  throw e;
}
} // namespace

void
Validate(const Schema & schema)
{
  std::set<std::string> names;
  for (const auto & s : schema)
  {
    if (Trim(s.Name).empty())
      Fail("a process parameter of the condition schema has an empty name: give every parameter a name");
    if (!names.insert(s.Name).second)
      Fail("the process parameter \"" + s.Name + "\" appears twice in the condition schema: names must be distinct");
    if (s.Categorical)
    {
      if (s.Categories.empty())
        Fail("the categorical parameter \"" + s.Name + "\" has no categories: list at least one");
      std::set<std::string> categories;
      for (const auto & c : s.Categories)
      {
        if (Trim(c).empty())
          Fail("the categorical parameter \"" + s.Name + "\" has an empty category name");
        if (!categories.insert(c).second)
          Fail("the categorical parameter \"" + s.Name + "\" lists category \"" + c + "\" twice");
      }
    }
    else
    {
      if (!(s.StdDev > 0.0) || !std::isfinite(s.StdDev) || !std::isfinite(s.Mean))
        Fail("the continuous parameter \"" + s.Name + "\" needs a finite Mean and a finite StdDev > 0 (StdDev is " +
             Exact(s.StdDev) + ")");
      if (!(s.Minimum <= s.Maximum) || !std::isfinite(s.Minimum) || !std::isfinite(s.Maximum))
        Fail("the continuous parameter \"" + s.Name +
             "\" needs a finite Minimum <= Maximum (the range it was trained on)");
    }
  }
}

unsigned int
EncodedLength(const Schema & schema)
{
  unsigned int n = 0;
  for (const auto & s : schema)
    n += s.Categorical ? static_cast<unsigned int>(s.Categories.size()) : 1u;
  return n;
}

Spec
LearnContinuous(const std::string & name, const std::vector<double> & values)
{
  if (values.empty())
    Fail("cannot learn the parameter \"" + name + "\" from an empty column");
  double sum = 0.0;
  Spec   s;
  s.Name = name;
  s.Minimum = values[0];
  s.Maximum = values[0];
  for (size_t i = 0; i < values.size(); ++i)
  {
    if (!std::isfinite(values[i]))
      Fail("value " + std::to_string(i) + " of the parameter \"" + name + "\" is " + Exact(values[i]) +
           ": every training value of a continuous parameter must be a finite number");
    sum += values[i];
    s.Minimum = std::min(s.Minimum, values[i]);
    s.Maximum = std::max(s.Maximum, values[i]);
  }
  s.Mean = sum / values.size();
  double var = 0.0;
  for (const double v : values)
    var += (v - s.Mean) * (v - s.Mean);
  s.StdDev = std::sqrt(var / values.size());
  if (!(s.StdDev > 0.0))
    s.StdDev = 1.0; // one value only: centred, not scaled
  return s;
}

Spec
LearnCategorical(const std::string & name, const std::vector<std::string> & values)
{
  if (values.empty())
    Fail("cannot learn the parameter \"" + name + "\" from an empty column");
  std::set<std::string> distinct;
  for (const auto & v : values)
  {
    if (Trim(v).empty())
      Fail("the categorical parameter \"" + name + "\" has an empty value in its column: fill it in or drop the row");
    distinct.insert(v);
  }
  Spec s;
  s.Name = name;
  s.Categorical = true;
  s.Categories.assign(distinct.begin(), distinct.end());
  return s;
}

Spec
Learn(const std::string & name, const std::vector<std::string> & values, bool categorical)
{
  if (categorical)
    return LearnCategorical(name, values);
  std::vector<double> numbers(values.size());
  for (size_t i = 0; i < values.size(); ++i)
  {
    if (!ParseDouble(values[i], numbers[i]))
      Fail("value " + std::to_string(i) + " of the parameter \"" + name + "\" is \"" + values[i] +
           "\", not a number: a continuous parameter needs numbers (or declare it categorical)");
  }
  return LearnContinuous(name, numbers);
}

std::vector<float>
Encode(const Schema & schema, const std::vector<Condition> & conditions, unsigned int n, std::string & outsideRange)
{
  outsideRange.clear();
  if (conditions.empty() && schema.empty())
  {
    return {}; // an unconditional prior needs no conditions
  }
  std::ostringstream message;
  if (conditions.size() != 1 && conditions.size() != n)
  {
    message << "got " << conditions.size() << " conditions for " << n
            << " maps: give one condition for all maps or one per map";
    Refuse(message);
  }
  const unsigned int    D = EncodedLength(schema);
  std::vector<float>    out(static_cast<size_t>(conditions.size()) * D, 0.0f);
  std::set<std::string> outside;
  for (size_t i = 0; i < conditions.size(); ++i)
  {
    const auto &      cond = conditions[i];
    const std::string which = conditions.size() > 1 ? " (condition of map " + std::to_string(i) + ")" : "";
    for (const auto & kv : cond)
    {
      const bool known = std::any_of(schema.begin(), schema.end(), [&](const Spec & s) { return s.Name == kv.first; });
      if (!known)
      {
        std::string names;
        for (const auto & s : schema)
          names += (names.empty() ? "" : ", ") + s.Name;
        message << "unknown process parameter \"" << kv.first << "\"" << which << ": this prior knows "
                << (names.empty() ? std::string("none (it is unconditional)") : names);
        Refuse(message);
      }
    }
    float * o = out.data() + i * D;
    for (const auto & s : schema)
    {
      const auto it = cond.find(s.Name);
      if (it == cond.end())
      {
        message << "the process parameter \"" << s.Name << "\" is missing" << which
                << ": the prior was trained with it, give its value";
        Refuse(message);
      }
      if (s.Categorical)
      {
        const auto c = std::find(s.Categories.begin(), s.Categories.end(), it->second);
        if (c == s.Categories.end())
        {
          std::string names;
          for (const auto & cat : s.Categories)
            names += (names.empty() ? "" : ", ") + cat;
          message << "unknown category \"" << it->second << "\" of the parameter \"" << s.Name << "\"" << which
                  << ": the prior was trained on " << names;
          Refuse(message);
        }
        o[c - s.Categories.begin()] = 1.0f;
        o += s.Categories.size();
      }
      else
      {
        double v = 0.0;
        if (!ParseDouble(it->second, v) || !std::isfinite(v))
        {
          message << "the value \"" << it->second << "\" of the parameter \"" << s.Name << "\"" << which
                  << " is not a finite number: give a number";
          Refuse(message);
        }
        if (v < s.Minimum || v > s.Maximum)
          outside.insert(s.Name + " = " + Trim(it->second) + " (trained on " + Exact(s.Minimum) + " .. " +
                         Exact(s.Maximum) + ")");
        const double z = (v - s.Mean) / s.StdDev;
        // Far outside the trained values the biases overflow and the logits become NaN: refused.
        if (!(std::abs(z) <= MaximumStandardisedValue))
        {
          message << "the value " << Trim(it->second) << " of the parameter \"" << s.Name << "\"" << which
                  << " lies too far outside the values the prior was trained on (" << Exact(s.Minimum) << " .. "
                  << Exact(s.Maximum) << ", mean " << Exact(s.Mean) << ", sd " << Exact(s.StdDev) << "): more than "
                  << MaximumStandardisedValue
                  << " standard deviations, where the network's output is meaningless; give a value nearer "
                     "the trained range";
          Refuse(message);
        }
        *o++ = static_cast<float>(z);
      }
    }
  }
  for (const auto & s : outside)
    outsideRange += (outsideRange.empty() ? "" : "; ") + s;
  if (conditions.size() == 1 && n > 1)
  {
    std::vector<float> all(static_cast<size_t>(n) * D);
    for (unsigned int i = 0; i < n; ++i)
      std::copy(out.begin(), out.end(), all.begin() + static_cast<size_t>(i) * D);
    return all;
  }
  return out;
}

std::string
HeaderValue(const Spec & spec)
{
  std::string value = modelfile::EscapeField(spec.Name);
  if (spec.Categorical)
  {
    value += ",categorical";
    for (const auto & category : spec.Categories)
      value += "," + modelfile::EscapeField(category);
    return value;
  }
  value += ",continuous," + Exact(spec.Mean) + "," + Exact(spec.StdDev) + "," + Exact(spec.Minimum) + "," +
           Exact(spec.Maximum);
  return value;
}

Spec
ParseHeaderValue(const std::string & value, const std::string & path, const std::string & key)
{
  const auto fields = modelfile::SplitFields(value);
  Spec       spec;
  spec.Name = fields[0];
  double numbers[4] = { 0, 0, 0, 0 };
  if (fields.size() >= 3 && fields[1] == "categorical")
  {
    spec.Categorical = true;
    spec.Categories.assign(fields.begin() + 2, fields.end());
  }
  else if (fields.size() > 6 && fields[1] == "continuous")
  {
    // ",degree[,exp:rate:mean:sd,..]" after the range: powers of z or exponential terms, written before
    // session 24 (deleted: they met fewer cross-validation targets, docs/cross_validation.md).
    Fail(path + ": header line " + key + " encodes the parameter with powers or exponential terms (" + value +
         "), which were removed in session 24: retrain this prior");
  }
  else if (fields.size() == 6 && fields[1] == "continuous" && ParseDouble(fields[2], numbers[0]) &&
           ParseDouble(fields[3], numbers[1]) && ParseDouble(fields[4], numbers[2]) &&
           ParseDouble(fields[5], numbers[3]))
  {
    spec.Mean = numbers[0];
    spec.StdDev = numbers[1];
    spec.Minimum = numbers[2];
    spec.Maximum = numbers[3];
  }
  else
  {
    Fail(path + ": header line " + key +
         " is not 'name,continuous,mean,stddev,min,max' or 'name,categorical,category,...': the file is damaged");
  }
  return spec;
}

void
Print(std::ostream & os, Indent indent, const Schema & schema)
{
  os << indent << "Conditions:";
  if (schema.empty())
    os << " none (unconditional)";
  os << '\n';
  for (const auto & s : schema)
  {
    os << indent.GetNextIndent() << s.Name << ": ";
    if (s.Categorical)
    {
      os << "categorical {";
      for (size_t i = 0; i < s.Categories.size(); ++i)
        os << (i ? ", " : "") << s.Categories[i];
      os << "}\n";
    }
    else
    {
      os << "continuous, mean " << s.Mean << ", sd " << s.StdDev << ", trained on " << s.Minimum << " .. " << s.Maximum
         << '\n';
    }
  }
}

} // namespace conditionencoding
} // namespace itk
