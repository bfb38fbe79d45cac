import { csvCell, toCsv } from "./csv.ts";

describe("CSV export cells", () => {
  it("quotes commas, quotes and line breaks, doubling inner quotes", () => {
    expect(csvCell('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell(null)).toBe("");
  });

  it("neutralises text that a spreadsheet would run as a formula", () => {
    for (const start of ["=", "+", "-", "@", "\t", "\r"]) {
      expect(
        csvCell(`${start}HYPERLINK("x")`).startsWith(`"'${start}`) ||
          csvCell(`${start}1`).startsWith(`'${start}`),
      ).toBe(true);
    }
    expect(csvCell("=1+2")).toBe("'=1+2");
    expect(csvCell('=HYPERLINK("http://evil")')).toBe(`"'=HYPERLINK(""http://evil"")"`);
  });

  it("keeps numbers, negative ones included, as numbers", () => {
    expect(csvCell(-0.008)).toBe("-0.008");
    expect(toCsv(["a", "b"], [[1, "x"], [-2, null]])).toBe("a,b\r\n1,x\r\n-2,\r\n");
  });
});
