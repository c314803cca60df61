import { describe, expect, it } from "vitest";
import { JsonSyntaxError, parseLocatedJson } from "../../../src/convert/json.js";

describe("parseLocatedJson", () => {
  it("reads JSON as JSON.parse does and locates members and items", () => {
    const text = '\uFEFF{\r\n  "a": [1, {"b": "x\\u00e9\\n"}],\r\n  "c": null, "d": -1.5e2, "e": true\r\n}';
    const j = parseLocatedJson(text);
    expect(j.value).toEqual(JSON.parse(text.slice(1)));
    expect(j.loc(["a"])).toEqual({ line: 2, col: 3 });
    expect(j.loc(["a", 1])).toEqual({ line: 2, col: 12 });
    expect(j.loc(["a", 1, "b"])).toEqual({ line: 2, col: 13 });
    expect(j.loc(["e"])).toEqual({ line: 3, col: 27 });
    // Unknown paths fall back to the nearest known parent.
    expect(j.loc(["a", 1, "nope", 3])).toEqual({ line: 2, col: 12 });
    expect(j.loc([])).toEqual({ line: 1, col: 1 });
  });

  it("keeps the last of duplicate keys", () => {
    expect(parseLocatedJson('{"a": 1, "a": 2}').value).toEqual({ a: 2 });
  });

  it.each([
    ['{"a": 1,}', 1, 9, "expected a property name in double quotes, found '}'"],
    ['{"a" 1}', 1, 6, "expected ':' after a property name, found '1'"],
    ['{\n  "a": [1 2]\n}', 2, 11, "expected ',' or ']' after an array item, found '2'"],
    ['{"a": "b', 1, 7, "unterminated string"],
    ['{"a": tru}', 1, 7, "expected a value, found 't'"],
    ['{"a": "\\x"}', 1, 8, "invalid escape in a string"],
    ["{} []", 1, 4, "unexpected '[' after the end of the JSON value"],
    ["", 1, 1, "expected a value, found the end of the file"],
  ])("locates the error in %j", (text, line, col, message) => {
    try {
      parseLocatedJson(text);
      throw new Error("expected a syntax error");
    } catch (e) {
      expect(e).toBeInstanceOf(JsonSyntaxError);
      expect({ line: (e as JsonSyntaxError).line, col: (e as JsonSyntaxError).col, message: (e as Error).message }).toEqual({
        line,
        col,
        message,
      });
    }
  });
});
