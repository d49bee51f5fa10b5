// A small results table written as CSV, JSON and markdown: every figure an experiment
// reports goes through one of these, straight from the computed values.
#pragma once

#include <string>
#include <variant>
#include <vector>

namespace qkv {

// Significant digits of every number a report shows, in its tables and its prose alike.
constexpr int kReportDigits = 3;

// x to kReportDigits significant digits as a report shows it: 0.0581, 19.7, 3650 (large
// numbers in plain digits rather than 3.65e+03); "n/a" for NaN.
std::string report_number(double x);

class Table {
 public:
  using Cell = std::variant<std::string, double, int64_t>;
  explicit Table(std::vector<std::string> columns);

  void add_row(std::vector<Cell> row);  // one cell per column
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<Cell>>& rows() const { return rows_; }

  std::string csv() const;
  std::string json() const;      // an array of objects
  std::string markdown() const;  // numbers with kReportDigits significant digits
  // Writes csv() and json() to <path_stem>.csv and <path_stem>.json atomically.
  void save(const std::string& path_stem) const;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
};

}  // namespace qkv
