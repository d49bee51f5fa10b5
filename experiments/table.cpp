#include "experiments/table.h"

#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "io/safetensors.h"

namespace qkv {
namespace {
std::string cell_text(const Table::Cell& c, int precision) {
  if (auto s = std::get_if<std::string>(&c)) return *s;
  if (auto i = std::get_if<int64_t>(&c)) return std::to_string(*i);
  const double v = std::get<double>(c);
  if (precision == kReportDigits) return report_number(v);
  if (std::isnan(v)) return "nan";  // CSV keeps nan
  std::ostringstream os;
  os << std::setprecision(precision) << v;
  return os.str();
}
}  // namespace

std::string report_number(double x) {
  if (std::isnan(x)) return "n/a";
  std::ostringstream os;
  const double magnitude = std::abs(x);
  if (magnitude >= std::pow(10.0, kReportDigits) && magnitude < 1e15) {
    // Rounded to kReportDigits significant digits, printed without an exponent.
    const double unit = std::pow(10.0, std::floor(std::log10(magnitude)) - kReportDigits + 1);
    os << std::fixed << std::setprecision(0) << std::round(x / unit) * unit;
  } else {
    os << std::setprecision(kReportDigits) << x;
  }
  return os.str();
}

Table::Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<Cell> row) {
  if (row.size() != columns_.size())
    throw std::invalid_argument("Table::add_row: " + std::to_string(row.size()) + " cells for " +
                                std::to_string(columns_.size()) + " columns");
  rows_.push_back(std::move(row));
}

std::string Table::csv() const {
  std::ostringstream os;
  for (size_t i = 0; i < columns_.size(); ++i) os << (i ? "," : "") << columns_[i];
  os << "\n";
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) os << (i ? "," : "") << cell_text(row[i], 9);
    os << "\n";
  }
  return os.str();
}

std::string Table::json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : rows_) {
    nlohmann::json obj;
    for (size_t i = 0; i < row.size(); ++i) std::visit([&](const auto& v) { obj[columns_[i]] = v; }, row[i]);
    out.push_back(obj);
  }
  return out.dump(1) + "\n";
}

std::string Table::markdown() const {
  std::ostringstream os;
  os << "|";
  for (const auto& c : columns_) os << " " << c << " |";
  os << "\n|";
  for (size_t i = 0; i < columns_.size(); ++i) os << "---|";
  os << "\n";
  for (const auto& row : rows_) {
    os << "|";
    for (const auto& c : row) os << " " << cell_text(c, kReportDigits) << " |";
    os << "\n";
  }
  return os.str();
}

void Table::save(const std::string& path_stem) const {
  write_file_atomically(path_stem + ".csv", csv());
  write_file_atomically(path_stem + ".json", json());
}

}  // namespace qkv
