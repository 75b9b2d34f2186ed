# The driver matrix's workload for ruby-pg (integration/drivers_test.go runs
# it directly on plaintext tables and through phiguard on encrypted ones;
# the outputs must be identical).
#
# Usage: ruby workload.rb MODE[,MODE...]
#   text:     exec_params with ruby-pg's basic type maps: Date, BigDecimal,
#             Integer and String parameters, results decoded to them
#   prepared: the same through prepare / exec_prepared
#   binary:   binary parameters (int4, date, text; numeric as text) and
#             binary results, compared as the bytes received
#   literal:  no parameters: values quoted into the text by escape_literal
#             (libpq's PQescapeLiteral: E'...' for a string with a
#             backslash) and run by exec, the simple protocol
# The connection comes from the PG* environment variables; each mode runs
# on table $DRIVER_TABLE_PREFIX_MODE. Each step prints the result columns'
# type OID, typmod and format and the rows, every value tagged by its class.
require 'pg'
require 'date'
require 'bigdecimal'

COLS = 'id, ssn, name, birthdate, balance, visits, note'.freeze
ROWS = [
  ['123-45-6789', 'Alice Smith', Date.new(1980, 2, 29), BigDecimal('1234.56'), 3, 'first'],
  ['987-65-4321', "O'Brien \"Zoë\" 日本 \\ back", Date.new(1955, 11, 5), BigDecimal('-0.05'), -5, 'quotes'],
  ['555-00-1111', nil, nil, nil, nil, nil],
  [nil, 'Nobody', Date.new(2000, 1, 1), BigDecimal('0.00'), 0, 'no ssn'],
  ['123-45-6789', 'Alice Twin', Date.new(1999, 12, 31), BigDecimal('9999999999.99'), 2_147_483_647, 'dup ssn']
].freeze

def show(v, binary)
  return 'NULL' if v.nil?
  return 'bytes:' + v.unpack1('H*') if binary
  return 'BigDecimal:' + v.to_s('F') if v.is_a?(BigDecimal)
  "#{v.class}:#{v.inspect}"
end

def report(step, res, binary)
  cols = (0...res.nfields).map { |i| "#{res.fname(i)}:#{res.ftype(i)}:#{res.fmod(i)}:#{res.fformat(i)}" }
  puts "#{step} #{res.cmd_status} #{cols.join(' ')}"
  res.each_row { |row| puts '  ' + row.map { |v| show(v, binary) }.join(' | ') }
end

# binary_param is v as a binary parameter of ruby-pg's hash form.
def binary_param(v)
  case v
  when nil then nil
  when Integer then { value: [v].pack('l>'), type: 23, format: 1 }
  when Date then { value: [(v - Date.new(2000, 1, 1)).to_i].pack('l>'), type: 1082, format: 1 }
  when BigDecimal then { value: v.to_s('F'), type: 1700, format: 0 }
  else { value: v.b, type: 25, format: 1 }
  end
end

# inline replaces $n in sql by params[n-1] written as SQL constants.
def inline(c, sql, params)
  sql.gsub(/\$(\d+)/) do
    v = params[Regexp.last_match(1).to_i - 1]
    case v
    when nil then 'NULL'
    when Integer then v.to_s
    when BigDecimal then v.to_s('F')
    else c.escape_literal(v.to_s)
    end
  end
end

def workload(c, t, mode)
  binary = mode == 'binary'
  fmt = binary ? 1 : 0
  n = 0
  run = lambda do |step, sql, params|
    res = case mode
          when 'binary' then c.exec_params(sql, params.map { |v| binary_param(v) }, 1)
          when 'literal' then c.exec(inline(c, sql, params))
          when 'prepared'
            n += 1
            c.prepare("s#{n}", sql)
            c.exec_prepared("s#{n}", params)
          else c.exec_params(sql, params, fmt)
          end
    report(step, res, binary)
  end
  insert = "INSERT INTO #{t} (ssn, name, birthdate, balance, visits, note) VALUES ($1, $2, $3, $4, $5, $6)"
  run.call('insert-returning', insert + ' RETURNING id', ROWS[0])
  ROWS[1..].each { |r| run.call('insert', insert, r) }
  run.call('select-id', "SELECT #{COLS} FROM #{t} WHERE id = $1", [2])
  6.times { |i| run.call("select-ssn-#{i}", "SELECT #{COLS} FROM #{t} WHERE ssn = $1 ORDER BY id", ['123-45-6789']) }
  run.call('update', "UPDATE #{t} SET name = $1, balance = $2, visits = $3, birthdate = $4 WHERE ssn = $5",
           ['Carol', BigDecimal('-12.30'), 7, Date.new(1970, 1, 1), '555-00-1111'])
  run.call('update-null', "UPDATE #{t} SET visits = $1, name = $2 WHERE id = $3", [nil, 'Ann', 1])
  run.call('select-null', "SELECT id, visits, name FROM #{t} WHERE ssn IS NULL OR visits IS NULL ORDER BY id", [])
  run.call('delete', "DELETE FROM #{t} WHERE id = $1", [4])
  run.call('select-all', "SELECT #{COLS} FROM #{t} ORDER BY id", [])
  report('select-all-simple', c.exec("SELECT #{COLS} FROM #{t} ORDER BY id"), false)
end

ARGV[0].split(',').each do |mode|
  raise "unknown mode #{mode}" unless %w[text prepared binary literal].include?(mode)

  puts "== #{mode}"
  c = PG.connect
  unless %w[binary literal].include?(mode)
    c.type_map_for_queries = PG::BasicTypeMapForQueries.new(c)
    c.type_map_for_results = PG::BasicTypeMapForResults.new(c)
  end
  workload(c, "#{ENV.fetch('DRIVER_TABLE_PREFIX')}_#{mode}", mode)
  c.close
  $stdout.flush
end
