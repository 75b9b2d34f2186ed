// The driver matrix's workload for pgjdbc (integration/drivers_test.go
// compiles and runs it, directly on plaintext tables and through phiguard
// on encrypted ones; the outputs must be identical).
//
// Usage: java -cp DIR:postgresql.jar Workload MODE[,MODE...]
// The connection comes from PGHOST, PGPORT, PGUSER, PGPASSWORD and
// PGDATABASE; each mode runs on table $DRIVER_TABLE_PREFIX_MODE. Each
// step prints the result columns' type OID, typmod, type name and format
// (text or binary) and the rows, every value tagged by its Java class.

import java.lang.reflect.Field;
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class Workload {
    // Each mode is a set of connection properties (docs/drivers.md).
    static final Map<String, String> MODES = Map.of(
        "threshold0", "prepareThreshold=0",
        "threshold1", "prepareThreshold=1",
        "threshold5", "prepareThreshold=5",
        "thresholdm1", "prepareThreshold=-1",
        "batchrewrite", "reWriteBatchedInserts=true",
        "binaryoff", "binaryTransfer=false&prepareThreshold=1",
        "binaryon", "binaryTransfer=true&prepareThreshold=1",
        "unspecified", "stringtype=unspecified&prepareThreshold=1",
        "simple", "preferQueryMode=simple");

    static final String COLS = "id, ssn, name, birthdate, balance, visits, note";
    static final String INSERT = "INSERT INTO %s (ssn, name, birthdate, balance, visits, note) VALUES (?, ?, ?, ?, ?, ?)";
    static final Object[][] ROWS = {
        {"123-45-6789", "Alice Smith", java.sql.Date.valueOf("1980-02-29"), new BigDecimal("1234.56"), 3, "first"},
        {"987-65-4321", "O'Brien \"Zoë\" 日本 \\ back", java.sql.Date.valueOf("1955-11-05"), new BigDecimal("-0.05"), -5, "quotes"},
        {"555-00-1111", null, null, null, null, null},
        {null, "Nobody", java.sql.Date.valueOf("2000-01-01"), new BigDecimal("0.00"), 0, "no ssn"},
        {"123-45-6789", "Alice Twin", java.sql.Date.valueOf("1999-12-31"), new BigDecimal("9999999999.99"), 2147483647, "dup ssn"},
    };

    public static void main(String[] args) throws Exception {
        for (String mode : args[0].split(",")) {
            System.out.println("== " + mode);
            String props = MODES.get(mode);
            if (props == null) throw new IllegalArgumentException("unknown mode " + mode);
            String url = String.format("jdbc:postgresql://%s:%s/%s?sslmode=disable&connectTimeout=10&%s",
                System.getenv("PGHOST"), System.getenv("PGPORT"), System.getenv("PGDATABASE"), props);
            try (Connection c = DriverManager.getConnection(url, System.getenv("PGUSER"), System.getenv("PGPASSWORD"))) {
                workload(c, System.getenv("DRIVER_TABLE_PREFIX") + "_" + mode);
            }
            System.out.flush();
        }
    }

    static void bind(PreparedStatement ps, Object[] row) throws SQLException {
        int[] types = {Types.VARCHAR, Types.VARCHAR, Types.DATE, Types.NUMERIC, Types.INTEGER, Types.VARCHAR};
        for (int i = 0; i < row.length; i++) {
            Object v = row[i];
            if (v == null) ps.setNull(i + 1, types[i]);
            else if (v instanceof String) ps.setString(i + 1, (String) v);
            else if (v instanceof java.sql.Date) ps.setDate(i + 1, (java.sql.Date) v);
            else if (v instanceof BigDecimal) ps.setBigDecimal(i + 1, (BigDecimal) v);
            else ps.setInt(i + 1, (Integer) v);
        }
    }

    static void workload(Connection c, String t) throws Exception {
        String insert = String.format(INSERT, t);
        try (PreparedStatement ps = c.prepareStatement(insert, Statement.RETURN_GENERATED_KEYS)) {
            bind(ps, ROWS[0]);
            System.out.println("insert " + ps.executeUpdate());
            report("generated-keys", ps.getGeneratedKeys());
        }
        try (PreparedStatement ps = c.prepareStatement(insert)) {
            for (int i = 1; i < 3; i++) {
                bind(ps, ROWS[i]);
                ps.addBatch();
            }
            System.out.println("batch " + Arrays.toString(ps.executeBatch()));
            for (int i = 3; i < ROWS.length; i++) {
                bind(ps, ROWS[i]);
                System.out.println("insert " + ps.executeUpdate());
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLS + " FROM " + t + " WHERE id = ?")) {
            ps.setInt(1, 2);
            report("select-id", ps.executeQuery());
        }
        // Seven times: pgjdbc server-prepares after prepareThreshold executions.
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLS + " FROM " + t + " WHERE ssn = ? ORDER BY id")) {
            for (int i = 0; i < 7; i++) {
                ps.setString(1, "123-45-6789");
                report("select-ssn-" + i, ps.executeQuery());
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + t + " SET name = ?, balance = ?, visits = ?, birthdate = ? WHERE ssn = ?")) {
            ps.setString(1, "Carol");
            ps.setBigDecimal(2, new BigDecimal("-12.30"));
            ps.setInt(3, 7);
            ps.setDate(4, java.sql.Date.valueOf("1970-01-01"));
            ps.setString(5, "555-00-1111");
            System.out.println("update " + ps.executeUpdate());
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + t + " SET visits = ?, name = ? WHERE id = ?")) {
            ps.setNull(1, Types.INTEGER);
            ps.setString(2, "Ann");
            ps.setInt(3, 1);
            System.out.println("update-null " + ps.executeUpdate());
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT id, visits, name FROM " + t + " WHERE ssn IS NULL OR visits IS NULL ORDER BY id")) {
            report("select-null", ps.executeQuery());
        }
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + t + " WHERE id = ?")) {
            ps.setInt(1, 4);
            System.out.println("delete " + ps.executeUpdate());
        }
        for (int i = 0; i < 7; i++) {
            try (PreparedStatement ps = c.prepareStatement("SELECT " + COLS + " FROM " + t + " ORDER BY id")) {
                report("select-all-" + i, ps.executeQuery());
            }
        }
        try (Statement st = c.createStatement()) {
            report("select-all", st.executeQuery("SELECT " + COLS + " FROM " + t + " ORDER BY id"));
        }
        // JDBC 4.2 objects and a long for the integer column; with
        // stringtype=unspecified, strings for every column.
        try (PreparedStatement ps = c.prepareStatement(insert)) {
            ps.setObject(1, "321-54-9876");
            ps.setObject(2, "Objects", Types.VARCHAR);
            ps.setObject(3, java.time.LocalDate.of(1969, 7, 20));
            ps.setObject(4, new BigDecimal("-7.5"));
            ps.setLong(5, -2147483648L);
            ps.setObject(6, null, Types.VARCHAR);
            System.out.println("insert-objects " + ps.executeUpdate());
            if (c.getMetaData().getURL().contains("stringtype=unspecified")) {
                String[] vals = {"321-54-0000", "Strings", "2024-02-29", "00042.100", "+12", "s"};
                for (int i = 0; i < vals.length; i++) ps.setString(i + 1, vals[i]);
                System.out.println("insert-strings " + ps.executeUpdate());
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLS + " FROM " + t + " WHERE ssn IN (?, ?) ORDER BY id")) {
            ps.setString(1, "321-54-9876");
            ps.setString(2, "321-54-0000");
            report("select-objects", ps.executeQuery());
        }
        // A fetch size in a transaction reads through a portal two rows at
        // a time: Execute with a row limit, PortalSuspended, Execute again.
        c.setAutoCommit(false);
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLS + " FROM " + t + " WHERE ssn IN (?, ?) OR ssn IS NULL ORDER BY id")) {
            ps.setFetchSize(2);
            ps.setString(1, "123-45-6789");
            ps.setString(2, "987-65-4321");
            report("fetch-size", ps.executeQuery());
        }
        // The same through a portal phiguard sorts and filters itself: an
        // encrypted ORDER BY key and WHERE, served in portions.
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLS + " FROM " + t + " WHERE birthdate >= ? ORDER BY name DESC NULLS FIRST, id")) {
            ps.setFetchSize(2);
            ps.setDate(1, java.sql.Date.valueOf("1950-01-01"));
            report("fetch-size-sorted", ps.executeQuery());
        }
        // The ORM's count per value, grouped and sorted by phiguard, in
        // portions.
        try (PreparedStatement ps = c.prepareStatement("SELECT name, count(*) FROM " + t + " GROUP BY name ORDER BY count(*) DESC, name NULLS FIRST")) {
            ps.setFetchSize(2);
            report("fetch-size-grouped", ps.executeQuery());
        }
        c.commit();
        c.setAutoCommit(true);
    }

    // report prints a result's columns and rows. The type OIDs and typmods
    // are pgjdbc's own fields (PgResultSetMetaData keeps them private).
    static void report(String step, ResultSet rs) throws Exception {
        ResultSetMetaData md = rs.getMetaData();
        Field f = md.getClass().getDeclaredField("fields");
        f.setAccessible(true);
        Object[] fields = (Object[]) f.get(md);
        StringBuilder sb = new StringBuilder(step);
        for (int i = 1; i <= md.getColumnCount(); i++) {
            Object fd = fields[i - 1];
            Object oid = fd.getClass().getMethod("getOID").invoke(fd);
            Object mod = fd.getClass().getMethod("getMod").invoke(fd);
            Object format = fd.getClass().getMethod("getFormat").invoke(fd);
            sb.append(String.format(" %s:%s:%s:%s:%s", md.getColumnLabel(i), oid, mod, md.getColumnTypeName(i), format));
        }
        System.out.println(sb);
        while (rs.next()) {
            StringBuilder row = new StringBuilder("  ");
            for (int i = 1; i <= md.getColumnCount(); i++) {
                Object v = rs.getObject(i);
                if (i > 1) row.append(" | ");
                row.append(v == null ? "NULL" : v.getClass().getSimpleName() + ":" + v);
            }
            System.out.println(row);
        }
        rs.close();
    }
}
